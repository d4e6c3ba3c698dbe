"""The pure decision core: parsing, detection, unwrapping and URL rules over plain data.

Nothing here performs I/O or imports an I/O library; ``tests/unit/test_layout.py`` checks it."""
