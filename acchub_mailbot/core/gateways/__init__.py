"""Link gateways, one module per family. Adding one is a module here and a line in GATEWAYS.

The unwrapper (:func:`acchub_mailbot.core.links.unwrap`) tries them in this order, one step at
a time, so chains of wrappers of any of these kinds unwrap. ``generic`` comes last: it reverses
wrappers of unknown products by the encodings they share.
"""

from __future__ import annotations

from acchub_mailbot.core.gateways import (
    avanan,
    bing,
    generic,
    mimecast,
    percent,
    proofpoint,
    safelinks,
)
from acchub_mailbot.core.gateways.base import Gateway, Step

GATEWAYS: tuple[Gateway, ...] = (
    safelinks.GATEWAY,
    proofpoint.GATEWAY,
    mimecast.GATEWAY,
    avanan.GATEWAY,
    bing.GATEWAY,
    percent.GATEWAY,
    # Last: the net under the named ones, for gateways nobody listed.
    generic.GATEWAY,
)

__all__ = ["GATEWAYS", "Gateway", "Step"]
