"""Link gateways, one module per family. Adding one is a module here and a line in GATEWAYS.

The unwrapper (:func:`acchub_mailbot.core.links.unwrap`) tries them in this order, one step at
a time, so chains of wrappers of any of these kinds unwrap.
"""

from __future__ import annotations

from acchub_mailbot.core.gateways import mimecast, percent, proofpoint, safelinks
from acchub_mailbot.core.gateways.base import Gateway, Step

GATEWAYS: tuple[Gateway, ...] = (
    safelinks.GATEWAY,
    proofpoint.GATEWAY,
    mimecast.GATEWAY,
    percent.GATEWAY,
)

__all__ = ["GATEWAYS", "Gateway", "Step"]
