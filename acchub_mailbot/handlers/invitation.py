"""The "Invite External Accountant" email of Business Central (page 9033).

The sender is the client's own mailbox and the text is editable and translated, so the decision
rests on the *link shape* (research notes, sections 4 and 9): the access link
``https://businesscentral.dynamics.com/<tenant>?redirectedfromsignup=1`` (or a legacy Financials
host), optionally the Accountant Hub add-client link whose filter must name the same client. The
subject and fixed sentences only add reasons. Bounces, auto-replies, lists and replies that quote
an invitation are answered ``not_invitation`` before any link is looked at.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from acchub_mailbot.core.companyname import Person, company_name, people
from acchub_mailbot.core.forwards import ForwardInfo, SubjectInfo, detect_forward, split_subject
from acchub_mailbot.core.hardwraps import drop_truncated, rejoin
from acchub_mailbot.core.htmltext import html_to_text
from acchub_mailbot.core.links import Link, extract_links, mimecast_domain
from acchub_mailbot.core.linkshape import (
    Classified,
    HubLink,
    Kind,
    classify,
    parse_hub_link,
)
from acchub_mailbot.core.lyinglinks import Lie, find_lies
from acchub_mailbot.core.messages import Message
from acchub_mailbot.core.negatives import automatic_reason, reply_reason
from acchub_mailbot.core.phrases import body_phrases, names_product, subject_is_invitation
from acchub_mailbot.core.urlrules import (
    ACCOUNTANT_HUB_HOST,
    BUSINESS_CENTRAL_HOST,
    FINANCIALS_SUFFIX,
)
from acchub_mailbot.handlers.base import Decision, Verdict

NAME = "invitation"


@dataclass(frozen=True)
class Found:
    """A classified link together with the link it came from."""

    link: Link
    classified: Classified


@dataclass(frozen=True)
class Evidence:
    """Everything the bodies of one message (attached messages excluded) say."""

    subject: SubjectInfo
    subject_match: bool
    phrases: tuple[str, ...]
    access: tuple[Found, ...]
    hubs: tuple[Found, ...]
    suspects: tuple[Found, ...]
    hidden: tuple[Link, ...]
    lies: tuple[Lie, ...]
    wrappers: tuple[str, ...]
    notes: tuple[str, ...]
    lines: tuple[str, ...]
    forward: ForwardInfo | None

    @property
    def mentions_invitation(self) -> bool:
        """Any sign at all that this message is, contains or imitates an invitation."""
        return bool(
            self.access
            or self.hubs
            or self.suspects
            or self.subject_match
            or self.hidden
            or self.lies
        ) or ("open-link sentence" in self.phrases and "accept-invitation sentence" in self.phrases)


def _visible_lines(message: Message) -> tuple[str, ...]:
    text = html_to_text(message.html) if message.html.strip() else message.text
    lines = []
    for line in text.splitlines():
        stripped = line.strip()
        while stripped.startswith(">"):
            stripped = stripped[1:].strip()
        lines.append(stripped)
    return tuple(lines)


def _hides_invitation(link: Link) -> bool:
    """A Mimecast link whose ``domain=`` hint names a Business Central or hub host."""
    domain = mimecast_domain(link.unwrapped) or ""
    return domain in (BUSINESS_CENTRAL_HOST, ACCOUNTANT_HUB_HOST) or domain.endswith(
        FINANCIALS_SUFFIX
    )


def gather(message: Message) -> Evidence:
    """Collect the signals of one message's own bodies."""
    subject = split_subject(message.subject)
    lines = _visible_lines(message)
    visible = "\n".join(lines)
    access: list[Found] = []
    hubs: list[Found] = []
    suspects: list[Found] = []
    hidden: list[Link] = []
    wrappers: list[str] = []
    links, truncated = drop_truncated(extract_links(message.html, message.text))
    notes = [f"text link {cut} was wrapped across lines; the HTML link wins" for cut in truncated]
    for link in links:
        link, note = rejoin(link)
        if note:
            notes.append(note)
        if link.opaque:
            hidden.append(link)
            wrappers.extend(w for w in ("mimecast",) if w not in wrappers)
            continue
        classified = classify(link.unwrapped)
        if classified.kind is Kind.UNRELATED:
            continue
        wrappers.extend(w for w in link.wrappers if w not in wrappers)
        target = {Kind.ACCESS: access, Kind.HUB: hubs, Kind.SUSPECT: suspects}[classified.kind]
        target.append(Found(link, classified))
    forward = detect_forward(visible, message.html)
    if forward is None and message.html.strip() and message.text.strip():
        forward = detect_forward(message.text)
    return Evidence(
        subject=subject,
        subject_match=subject_is_invitation(subject.core),
        phrases=body_phrases(visible + "\n" + message.text),
        access=tuple(access),
        hubs=tuple(hubs),
        suspects=tuple(suspects),
        hidden=tuple(hidden),
        lies=find_lies(links),
        wrappers=tuple(wrappers),
        notes=tuple(notes),
        lines=lines,
        forward=forward,
    )


def _support(evidence: Evidence) -> list[str]:
    reasons = []
    if evidence.subject_match:
        reasons.append("phrase: subject")
    reasons.extend(f"phrase: {name}" for name in evidence.phrases)
    return reasons


def _forward_fields(message: Message, evidence: Evidence) -> tuple[str | None, str | None, str]:
    """``(forward_style, forwarded_by, reason)`` for an inline forward, or Nones."""
    forward = evidence.forward
    if forward is not None and forward.style not in ("quoted", "reply-attribution"):
        twice = ", forwarded twice" if forward.count == 2 else ""
        more = f", forwarded {forward.count} times" if forward.count > 2 else twice
        return forward.style, message.sender or None, f"forward: {forward.label}{more}"
    if evidence.subject.forwarded or forward is not None:
        style = forward.style if forward is not None else "inline"
        return style, message.sender or None, f"forward: {style} (subject prefix)"
    return None, None, ""


def _pick_access(evidence: Evidence) -> Found:
    # Text first: link 1 is plain text in BC's HTML; an href may have been rewritten by a client.
    ordered = sorted(evidence.access, key=lambda f: f.link.source == "href")
    return ordered[0]


def _link1_forms(evidence: Evidence) -> tuple[list[str], list[str]]:
    """Every written form of link 1 (the unwrapped link, and the gateway-wrapped one when a
    wrapper rewrote the visible text too), and the labels of anchors that lead to it."""
    forms: list[str] = []
    labels: list[str] = []
    for found in evidence.access:
        link = found.link
        for shown in (link.text, link.href, found.classified.url, link.first_line):
            if shown and "://" in shown:
                forms.append(shown)
        if link.text and "://" not in link.text:
            labels.append(link.text)
    return forms, labels


def _persons(message: Message, evidence: Evidence) -> tuple[Person, ...]:
    """Everyone the message names, none of whom is ever the company."""
    original = evidence.forward.original_from if evidence.forward else None
    sender = f"{message.sender_name} <{message.sender}>" if message.sender else message.sender_name
    return people(sender, ", ".join(message.to), original)


def _decide_access(message: Message, evidence: Evidence, reasons: list[str]) -> Decision:
    clients = {f.classified.rule.client_url for f in evidence.access if f.classified.rule}
    chosen = _pick_access(evidence)
    rule = chosen.classified.rule
    assert rule is not None  # access links always carry their rule result
    tenants = {f.classified.rule.tenant for f in evidence.access if f.classified.rule}
    if len(tenants) > 1:
        return Decision(
            Verdict.REJECTED,
            NAME,
            reasons=(
                *reasons,
                "rule failed: the links name different tenants ("
                + ", ".join(sorted(t or "" for t in tenants))
                + "); one invitation is for one client",
            ),
            rejected_url=sorted(c or "" for c in clients)[-1],
        )
    if len(clients) > 1:
        return Decision(
            Verdict.NEEDS_REVIEW,
            NAME,
            reasons=(
                *reasons,
                "several different client links: " + ", ".join(sorted(c or "" for c in clients)),
            ),
        )
    reasons.append(f"link shape: {chosen.classified.shape}")
    hub: HubLink | None = None
    extra: dict[str, str] = {}
    if rule.tenant:
        extra["tenant"] = rule.tenant
    if evidence.hubs:
        hub = parse_hub_link(evidence.hubs[0].classified.url)
        if hub is None:
            reasons.append("hub link: filter not understood, ignored")
        else:
            reasons.append("link shape: accountant hub add-client link")
            inner = classify(hub.client_link)
            inner_rule = inner.rule
            if inner.kind is not Kind.ACCESS or inner_rule is None:
                problem = inner.reason or "the hub link's client link is not an access link"
                return Decision(
                    Verdict.REJECTED,
                    NAME,
                    access_link=chosen.classified.url,
                    reasons=(*reasons, f"rule failed: hub link client link: {problem}"),
                    rejected_url=hub.client_link,
                )
            if inner_rule.client_url != rule.client_url:
                return Decision(
                    Verdict.REJECTED,
                    NAME,
                    access_link=chosen.classified.url,
                    reasons=(
                        *reasons,
                        "rule failed: the hub link's client link does not match the access "
                        f"link ({inner_rule.client_url} vs {rule.client_url})",
                    ),
                    rejected_url=hub.client_link,
                )
    elif any(_hides_invitation(link) for link in evidence.hidden):
        reasons.append("hub link hidden by mimecast: add-client link not available")
    forms, labels = _link1_forms(evidence)
    persons = _persons(message, evidence)
    signature = company_name(None, evidence.lines, forms, labels, persons)
    if signature.name:
        extra["signature_name"] = signature.name
    named = company_name(hub.name, (), ()) if hub is not None and hub.name else signature
    company = named.name
    reasons.append(named.reason)
    reasons.extend(_support(evidence))
    if chosen.classified.shape.startswith("legacy") and not (
        hub or evidence.subject_match or evidence.phrases
    ):
        return Decision(
            Verdict.NEEDS_REVIEW,
            NAME,
            company_name=company,
            client_url=rule.client_url,
            access_link=chosen.classified.url,
            reasons=(*reasons, "legacy Financials link without any supporting signal"),
            extra=extra,
        )
    return Decision(
        Verdict.INVITATION,
        NAME,
        company_name=company,
        client_url=rule.client_url,
        access_link=chosen.classified.url,
        add_client_link=hub.link if hub else None,
        reasons=tuple(reasons),
        extra=extra,
    )


def _decide_own(message: Message, evidence: Evidence) -> Decision | None:
    """Decide from this message's own bodies (not its attachments)."""
    if not evidence.mentions_invitation:
        return None
    reasons: list[str] = []
    negative = automatic_reason(message) or reply_reason(
        message, evidence.subject, evidence.forward
    )
    if negative:
        return Decision(Verdict.NOT_INVITATION, NAME, reasons=(negative, *_support(evidence)))
    style, forwarded_by, forward_reason = _forward_fields(message, evidence)
    if forward_reason:
        reasons.append(forward_reason)
    reasons.extend(f"unwrapped: {w}" for w in evidence.wrappers)
    reasons.extend(evidence.notes)
    base = Decision(Verdict.NOT_INVITATION, NAME, forward_style=style, forwarded_by=forwarded_by)
    if evidence.lies:
        lie = evidence.lies[0]
        return replace(
            base,
            verdict=Verdict.REJECTED,
            reasons=(*reasons, f"rule failed: {lie.reason}"),
            rejected_url=lie.target,
        )
    if evidence.suspects:
        bad = evidence.suspects[0].classified
        reasons.append(f"rule failed: {bad.reason}")
        return replace(base, verdict=Verdict.REJECTED, reasons=tuple(reasons), rejected_url=bad.url)
    if evidence.access:
        decision = _decide_access(message, evidence, reasons)
        return replace(decision, forward_style=style, forwarded_by=forwarded_by)
    reasons.extend(_support(evidence))
    if evidence.hubs:
        hub = parse_hub_link(evidence.hubs[0].classified.url)
        return replace(
            base,
            verdict=Verdict.NEEDS_REVIEW,
            company_name=hub.name if hub else None,
            add_client_link=hub.link if hub else None,
            reasons=(*reasons, "an Accountant Hub link but no access link"),
        )
    hints = [link for link in evidence.hidden if _hides_invitation(link)]
    worded = evidence.subject_match or evidence.phrases or names_product(message.subject)
    if hints or (evidence.hidden and worded):
        return replace(
            base,
            verdict=Verdict.NEEDS_REVIEW,
            reasons=(
                *reasons,
                "link hidden by mimecast and no visible URL text: cannot be read offline",
            ),
        )
    if evidence.subject_match:
        return replace(
            base,
            verdict=Verdict.NEEDS_REVIEW,
            reasons=(*reasons, "invitation wording but no Business Central link found"),
        )
    return None


def decide_message(message: Message, depth: int = 0) -> Decision | None:
    """Decide on ``message``; an attached original (forward as attachment) is decided on its own."""
    evidence = gather(message)
    inner_decision: Decision | None = None
    inner_message: Message | None = None
    if depth < 5:
        for inner in message.attached:
            candidate = decide_message(inner, depth + 1)
            if candidate is not None and (
                inner_decision is None
                or (
                    inner_decision.verdict is Verdict.NOT_INVITATION
                    and candidate.verdict is not Verdict.NOT_INVITATION
                )
            ):
                inner_decision, inner_message = candidate, inner
    if inner_decision is None or inner_message is None:
        return _decide_own(message, evidence)
    negative = automatic_reason(message) or (
        reply_reason(message, evidence.subject, None) if evidence.subject.replied else None
    )
    original_id = inner_decision.original_message_id or inner_message.message_id
    if negative:
        # The outer message (a bounce, an auto-reply) is what arrived; it is not the invitation.
        return Decision(Verdict.NOT_INVITATION, NAME, reasons=(negative, *inner_decision.reasons))
    nested = inner_decision.forward_style == "attachment"
    reason = "forward: attached message (message/rfc822)"
    return replace(
        inner_decision,
        reasons=(reason, *inner_decision.reasons) if not nested else inner_decision.reasons,
        original_message_id=original_id,
        forward_style="attachment",
        forwarded_by=message.sender or inner_decision.forwarded_by,
    )


class InvitationHandler:
    """Recognises Business Central "Invite External Accountant" emails, also forwarded."""

    name = NAME

    def decide(self, message: Message) -> Decision | None:
        """An invitation verdict, or ``None`` when nothing in the message concerns one."""
        return decide_message(message)


__all__ = ["Evidence", "InvitationHandler", "decide_message", "gather"]
