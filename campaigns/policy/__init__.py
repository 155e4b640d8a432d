"""The contact policy: whom a campaign may call or text, when, and how often.

It reads the campaign's settings in force (``campaigns.settings``: the window per
weekday, holidays, cap, tries, cooldowns), one object per campaign. It is applied twice:
``screen.screen`` in bulk when a list is built, and ``check.check_contact`` by the dialer
right before each call or SMS. Both name the first rule that fails, in one
fixed order (``rules.RULES``):

    no_phone            no number on record
    no_consent          no consent to this channel (call_consent, sms_consent)
    do_not_call         a call to a number on the do-not-call list (channel call or all)
    opted_out           an SMS to a number that opted out (channel sms or all)
    no_timezone         no zone on record and none the number tells
    open_complaint      an unresolved complaint, for kinds that exclude them
    max_attempts        the list entry was tried enough (check_contact only)
    max_attempts_today  tried enough today, from the customer's local midnight (check only)
    contact_cap         enough contacts in the rolling period, all campaigns, both channels
    abandon_cooldown    a call of ours was abandoned lately (calls only)
    opt_out_cooldown    an opt-out lately on any channel: every channel waits
    refusal_cooldown    the customer refused this offer lately
    outside_window      not inside the calling window in every zone (check_contact only)
    holiday             a public holiday or an extra date there (check_contact only)

From no_phone to no_timezone, and max_attempts, the blocks are permanent for the dialer
(no retry time); an open complaint lifts when it is closed, at a time nobody knows. For
the others a verdict says when to try again: the first instant inside that weekday's
window, on a working day, after every temporary block seen has lifted (``calendar``).

Choices, each for a reason:

- A contact, for the cap, is an attempt that reached the carrier (initiated, ringing,
  in-progress, completed, busy, no-answer, abandoned, sent, delivered, undelivered):
  the customer's phone rang or a text was handed over. Scheduled and queued attempts
  have not happened yet, canceled ones never will, failed ones were turned away before
  reaching the phone. Max attempts also counts failed ones: a number that fails every
  time must stop being dialled.
- An attempt happened at ``started_at``, else at ``created_at``; a refusal at the
  disposition's ``created_at``. A past event weighs while ``now < event + period``:
  a refusal exactly 90 days old no longer blocks, an attempt exactly 30 days old no
  longer counts. Later attempts count too: a worker whose clock is a little behind
  another's must not miss a call just placed.
- The abandoned-call cooldown holds back calls only: Ofcom's rule is about repeat
  calls, and a text is not a silent call. It goes by customer, not by number.
- A refusal is of the same offer when the list entries share a product; entries without
  a product (retention offers) share an offer within one campaign kind. A refusal is tied
  to its offer through the disposition's list entry; one recorded without it does not count.
- Do-not-call entries match the customer's number exactly (both are E.164) and count
  while ``revoked_at`` is NULL.
- The zone on record wins over the number's; a number can tell several zones (a mobile
  of a country with several), and then every one of them must be inside the window and
  on a working day. A zone name that does not load counts as no zone.
- Holidays are the ``holidays`` package's public ones (observed days included) for the
  customer's country, and region when the package knows it as a subdivision, on the local
  date in each zone; a country it does not know has only the extra dates.
"""
