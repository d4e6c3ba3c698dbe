"""A cheap test that lets most mail skip parsing: can this message possibly be reported?

Parsing (mail-parser, the MIME walk, HTML to text, link extraction) is the expensive part of a
scan, and ~99% of a mailbox is ordinary mail. :func:`could_be_invitation` answers ``False`` only
when the detector (:func:`acchub_mailbot.handlers.decide`) would answer ``not_invitation``; a
message it drops is recorded as ``not_invitation`` without being parsed, so a wrong ``False``
would silently lose an invitation or a look-alike warning. ``True`` just means "parse it".

Why ``False`` is safe: every way the detector reaches a verdict other than ``not_invitation``
needs one of these, in one message level (the message, or an attached message at any depth):

1. A link that :func:`acchub_mailbot.core.linkshape.classify` calls access, hub or suspect, or a
   Mimecast link. After gateway unwrapping, that needs (a) a query key ``redirectedfromsignup``, or
   (b) a hub filter naming ``client link``, or (c) a host (the text after ``//`` up to ``/?#``)
   containing ``accountants`` / ``dynamics`` / ``businesscentral`` / a test-host marker /
   ``mimecast`` / ``xn--``, or a label within two edits of ``businesscentral`` -- which keeps one
   of its thirds ``busin`` / ``essce`` / ``ntral`` intact (two edits touch at most two thirds).
   A host that is plainly (ASCII, nothing but letters, digits, dots and hyphens) under one of
   Microsoft's domains is unrelated to ``classify`` unless hub-shaped (``accountants``) or a
   legacy Financials host (``financials.dynamics``), so only those markers count there.
   Unwrapping Safe Links and percent-encoded links is one ``unquote`` per layer, so the inner
   URL appears in one of the texts decoded 0-8 times; Proofpoint (whose v2/v3 encodings hide the
   host) is recognised by its own host ``urldefense``. The generic gateway
   (:mod:`acchub_mailbot.core.gateways.generic`) takes a URL out of a query value or path
   segment only when the result starts with ``http(s)://``: written out (the ``//`` is in the
   text), percent-encoded (one of the decoded texts), base64 (the value then starts with
   ``aHR0c``, the base64 of ``http``; every such run is decoded with the gateway's own decoder and
   its result checked like a body) or Proofpoint-style substitution (``-3A__``; the text with that
   substitution undone is checked too). Each derived text is itself decoded the same ways, so
   chains of wrappers are followed; a text that yields too many derived texts answers ``True``.
   Bing's redirect (``u=a1`` + base64url) holds ``aHR0c`` right after ``a1``; Avanan writes the
   URL out.
2. A subject matching :data:`acchub_mailbot.core.phrases.PRODUCT`: ``dynamics``,
   ``business central`` or ``financials``.
3. Microsoft's guest invitation: a sender containing ``invites``, a host containing
   ``microsoftonline`` or ``invitationsmicrosoft``, or ``invites@microsoft.com`` in a body.

Each marker is looked for in a *normalised* form that can only keep or add matches compared
with what the detector compares: Unicode NFKC, case folding (plus the four non-ASCII letters
Python's ``re.IGNORECASE`` equates with ASCII ones), the detector's own homoglyph table, accents
stripped, and every character other than ``a-z0-9`` removed (the detector removes dots and
hyphens from hosts and allows whitespace in ``business\\s*central``; removing more only adds
matches). Each body is checked as the detector could see it: raw, HTML-unescaped, as visible
text (tags, comments and hidden elements removed exactly as :func:`~acchub_mailbot.core.htmltext.
html_to_text` does, or by that very function when the markup is unusual), each also
percent-decoded up to eight times; bodies are decoded with every charset and transfer encoding
either the server or the part's own header names. A charset that does not keep ASCII as ASCII
(UTF-16, UTF-7, EBCDIC) makes the answer ``True``, as does anything this module cannot read.

The parser's own limits (:mod:`acchub_mailbot.core.limits`) also send a message to review whatever
it says, so a message that may reach one (many parts, deep nesting, large text) always passes;
sizes are the encoded ones, never smaller than the decoded text. The one limit that cannot be
predicted is the parse-time budget, a guard against pathological input: what stays within every
size and structure limit parses well inside it.

The package holds the markers and the places they are looked for (``markers``), and the two
ways a message arrives (``messages``): a planned FETCH of the parts that matter, or a whole
message.
"""

from __future__ import annotations

from acchub_mailbot.core.prefilter.markers import (
    BODY_MARKERS,
    HOST_MARKERS,
    SUBJECT_MARKERS,
    BodyPart,
    could_be_invitation,
    header_could_be_invitation,
    keeps_ascii,
    squash,
    text_could_be_invitation,
)
from acchub_mailbot.core.prefilter.markers import _fast_visible as _fast_visible
from acchub_mailbot.core.prefilter.markers import _transfer_decoded as _transfer_decoded
from acchub_mailbot.core.prefilter.messages import (
    may_hit_limits,
    message_could_be_invitation,
    sections_could_be_invitation,
)

__all__ = [
    "BODY_MARKERS",
    "HOST_MARKERS",
    "SUBJECT_MARKERS",
    "BodyPart",
    "could_be_invitation",
    "header_could_be_invitation",
    "keeps_ascii",
    "may_hit_limits",
    "message_could_be_invitation",
    "sections_could_be_invitation",
    "squash",
    "text_could_be_invitation",
]
