// The agent console: state, the current call, outcomes, call-backs and today's figures.
// Live through server-sent events (/api/agent/events); every change is a JSON call with the
// page's CSRF token. Customer data is written with textContent only; the call script is
// HTML the server rendered from markdown with the customer's fields escaped.
"use strict";

(function () {
  const root = document.getElementById("console");
  if (!root) return;
  const urls = root.dataset;
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const myZone = Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";
  const $ = (id) => document.getElementById(id);

  let state = { state: "offline" };
  let call = null; // the /api/agent/call answer's call
  let campaigns = [];
  let stateSince = null; // ms on the dialer's clock since the agent is in this state
  // the dialer's clock as the event stream last read it: {serverNow: ms, received: ms,
  // scale}; a demo's clock is shifted and faster than the wall clock
  let serverClock = null;
  let pendingCode = null; // refused/callback waiting for their form

  // -- talking to the server ----------------------------------------------------------

  async function api(url, body) {
    const options = body === undefined
      ? { headers: { Accept: "application/json" } }
      : {
          method: "POST",
          headers: { "Content-Type": "application/json", Accept: "application/json", "X-CSRF-Token": csrf },
          body: JSON.stringify(body),
        };
    const response = await fetch(url, options);
    let data = {};
    try { data = await response.json(); } catch (e) { data = {}; }
    if (response.status === 401) { window.location.assign("/login?next=/agent"); }
    return { ok: response.ok, status: response.status, data: data };
  }

  // -- small formatting helpers ---------------------------------------------------------

  function el(tag, text, cls) {
    const node = document.createElement(tag);
    if (text !== undefined && text !== null) node.textContent = String(text);
    if (cls) node.className = cls;
    return node;
  }
  function clear(node) { while (node.firstChild) node.removeChild(node.firstChild); }
  function show(node, visible) { node.hidden = !visible; }
  function money(v) { return v === null || v === undefined ? "–" : Number(v).toLocaleString(undefined, { maximumFractionDigits: 2, minimumFractionDigits: 2 }); }
  function when(iso, zone, withDate) {
    if (!iso) return "–";
    const options = { hour: "2-digit", minute: "2-digit", timeZone: zone || myZone };
    if (withDate) { options.day = "numeric"; options.month = "short"; }
    try { return new Intl.DateTimeFormat(undefined, options).format(new Date(iso)); }
    catch (e) { return new Date(iso).toLocaleString(); }
  }
  function duration(seconds) {
    seconds = Math.max(0, Math.round(seconds));
    const h = Math.floor(seconds / 3600), m = Math.floor((seconds % 3600) / 60), s = seconds % 60;
    const mm = String(m).padStart(h ? 2 : 1, "0"), ss = String(s).padStart(2, "0");
    return h ? `${h}:${mm}:${ss}` : `${mm}:${ss}`;
  }
  function label(code) { return String(code || "").replace(/_/g, " "); }

  // field errors sit right under their field: <p id="{field}-error">
  function clearErrors() {
    root.querySelectorAll(".field-error").forEach((p) => { p.hidden = true; p.textContent = ""; });
    root.querySelectorAll("[aria-invalid]").forEach((n) => n.removeAttribute("aria-invalid"));
    show($("dispo-error"), false);
    show($("state-error"), false);
  }
  function showError(data, fallback) {
    const field = data && data.field;
    const message = (data && data.message) || "Something went wrong; try again.";
    const slot = field && $(field + "-error");
    if (slot) {
      slot.textContent = message;
      slot.hidden = false;
      const input = field === "callback_at" ? $("callback_local") : $(field);
      if (input) { input.setAttribute("aria-invalid", "true"); input.focus(); }
      return;
    }
    const box = fallback || $("dispo-error");
    box.textContent = message;
    box.hidden = false;
  }

  // -- state bar ----------------------------------------------------------------------

  function campaignName(id) {
    const found = campaigns.find((c) => c.id === id);
    return found ? found.name : id ? `campaign ${id}` : "";
  }
  // a preview campaign dials nothing on its own: the agent takes the next customer
  function previewCampaign() {
    const found = campaigns.find((c) => c.id === state.campaign_id);
    return !!found && found.pacing === "preview";
  }
  // previewing a customer's card, not dialed yet
  function previewing() { return state.state === "preview" && !state.attempt_id; }

  function renderState(next) {
    state = Object.assign({}, state, next);
    const s = state.state;
    const badge = $("state-badge");
    badge.textContent = s === "talk" ? "on a call" : s === "wrap" ? "wrap-up"
      : s === "preview" ? (state.attempt_id ? "dialing" : "preview") : s;
    badge.className = "state state-" + s;
    let detail = "Not logged in to a campaign";
    if (s !== "offline") detail = campaignName(state.campaign_id);
    if (s === "paused" && state.pause_code) detail += ` · ${state.pause_code}`;
    $("state-detail").textContent = detail;
    show($("login-form"), s === "offline");
    show($("ready-btn"), s === "paused" || s === "wrap");
    show($("pause-form"), s === "ready" || s === "wrap" || previewing());
    show($("logout-btn"), s === "ready" || s === "paused" || previewing());
    show($("next-btn"), s === "ready" && previewCampaign());
    show($("preview-actions"), previewing());
    $("no-call-text").textContent = s === "ready" && previewCampaign()
      ? "Preview dialing: take the next customer (N) to see their card, then dial or skip."
      : "Waiting for a call. When the dialer connects a customer, their card and the script appear here.";
    if (next.now) {
      serverClock = { serverNow: Date.parse(next.now), received: Date.now(), scale: next.clock_scale || 1 };
    }
    if (next.since !== undefined) stateSince = state.since ? Date.parse(state.since) : null;
    tick();
  }

  // now on the dialer's clock (the wall clock until the event stream has told it)
  function clockNow() {
    if (!serverClock) return Date.now();
    return serverClock.serverNow + (Date.now() - serverClock.received) * serverClock.scale;
  }

  function tick() {
    const node = $("state-timer");
    if (stateSince === null || state.state === "offline") { node.textContent = ""; return; }
    node.textContent = duration((clockNow() - stateSince) / 1000);
    if (call) renderClocks();
  }

  async function move(url, body) {
    clearErrors();
    const answer = await api(url, body || {});
    if (!answer.ok) { showError(answer.data, $("state-error")); return; }
    renderState(answer.data);
    refreshCall();
  }

  // -- the call -----------------------------------------------------------------------

  function renderCallState(name) {
    name = legState(name);
    if (!name && call && call.preview) name = "preview";
    const node = $("call-state");
    node.textContent = name || "no call";
    node.className = "callstate callstate-" + (name || "none");
    const open = call && !call.disposition;
    const ended = name === "ended" && !legHeld();
    root.querySelectorAll(".dispo").forEach((b) => { b.disabled = !(open && ended); });
    $("dispo-hint").textContent = !call
      ? "Outcomes are recorded once the call has ended."
      : call.preview ? "Read the card, then dial (D) or skip (S)."
      : call.disposition ? "Recorded." : ended ? "Choose the outcome (keys 1–7)." : "The call is on: choose the outcome when it ends.";
  }

  function fact(list, term, value) {
    const box = el("div");
    box.append(el("dt", term), el("dd", value === null || value === undefined || value === "" ? "–" : value));
    list.append(box);
  }

  function renderClocks() {
    const zone = call && call.card.customer.timezone;
    const now = new Date(clockNow()).toISOString();
    $("c-localtime").textContent = zone ? `${when(now, zone)} (${zone})` : "zone unknown";
    $("c-mytime").textContent = `${when(now, myZone)} (${myZone})`;
  }

  function renderCall(next) {
    call = next;
    show($("no-call"), !call);
    show($("call"), !!call);
    if (!call) { renderCallState(null); return; }
    const card = call.card, c = card.customer;
    $("c-name").textContent = c.name;
    $("c-phone").textContent = call.phone;
    $("c-where").textContent = [c.region, c.country, c.language].filter(Boolean).join(", ");
    renderClocks();

    const facts = $("c-facts");
    clear(facts);
    fact(facts, "Customer", `${c.type}${c.segment ? " · " + c.segment.name : ""}`);
    fact(facts, "Tenure", c.tenure_text);
    fact(facts, "Contract ends", c.contract_end);
    fact(facts, "ARPU", money(card.value.arpu));
    fact(facts, "CLV", money(card.value.clv));
    fact(facts, "ABC / XYZ", `${card.value.abc || "–"} / ${card.value.xyz || "–"}`);
    fact(facts, "Lifecycle", card.value.lifecycle);
    if (c.churned) fact(facts, "Left on", c.churned_on);

    const p = card.risk.p_churn;
    $("c-risk").textContent = p === null || p === undefined ? "not scored" : `${Math.round(p * 100)}%`;
    const fill = $("c-risk-fill");
    fill.style.width = p ? `${Math.min(100, Math.round(p * 100))}%` : "0";
    fill.className = p >= 0.5 ? "high" : p >= 0.2 ? "mid" : "low";
    const reasons = $("c-reasons");
    clear(reasons);
    card.risk.reasons.forEach((r) => reasons.append(el("li", r.text)));
    if (!card.risk.reasons.length) reasons.append(el("li", "No reasons stand out.", "muted"));

    const offer = call.offer || {};
    $("c-offer").textContent = offer.text || "No offer on this list: follow the script.";
    const product = offer.product;
    $("c-offer-detail").textContent = product ? `${product.name} · ${money(product.monthly_price)} a month` : "";

    const chips = $("c-products");
    clear(chips);
    card.products.held.forEach((h) => chips.append(el("span", `${h.name} · ${money(h.monthly_revenue)}`, "chip chip-held")));
    card.products.targeted.filter((t) => !t.held).forEach((t) => chips.append(el("span", `${t.name} (not held)`, "chip chip-target")));
    if (!chips.firstChild) chips.append(el("span", "No products on record.", "muted"));
    if (card.products.maturity !== null) chips.append(el("span", `maturity ${Math.round(card.products.maturity * 100)}%`, "chip chip-note"));

    const complaints = $("c-complaints");
    clear(complaints);
    card.complaints.forEach((i) => {
      const li = el("li", `${when(i.at, null, true)} · ${label(i.kind)}: ${i.topic || "no topic"}`);
      if (i.open) li.append(el("span", "open", "tag tag-warn"));
      complaints.append(li);
    });
    if (!card.complaints.length) complaints.append(el("li", "None.", "muted"));
    const surveys = $("c-surveys");
    clear(surveys);
    card.surveys.forEach((i) => {
      const li = el("li", `${when(i.at, null, true)} · ${i.score ?? "–"}/${i.scale ?? "–"}${i.topic ? " · " + i.topic : ""}`);
      if (i.at_risk) li.append(el("span", "dissatisfied", "tag tag-warn"));
      surveys.append(li);
    });
    if (!card.surveys.length) surveys.append(el("li", "None.", "muted"));

    // rendered on the server from the call-script template, customer fields escaped
    $("c-script").innerHTML = call.script_html || "<p>No script for this call.</p>";

    const contacts = $("c-contacts");
    clear(contacts);
    card.contacts.forEach((x) => {
      const tr = el("tr");
      tr.append(
        el("td", when(x.at, null, true)),
        el("td", x.campaign || "–"),
        el("td", x.disposition ? label(x.disposition) + (x.refusal_reason ? ` (${x.refusal_reason})` : "") : `${x.channel} ${x.status}`),
        el("td", x.notes || ""),
      );
      contacts.append(tr);
    });
    $("c-contacts-count").textContent = String(card.contacts.length);

    $("cb-zone").textContent = c.timezone ? `the customer's time (${c.timezone})` : "your time (the customer's zone is unknown)";
    renderCallState(call.call_state);
    if (call.disposition) {
      const done = $("dispo-done");
      done.textContent = `Recorded: ${label(call.disposition.code)}.`;
      done.hidden = false;
    }
  }

  let callSeq = 0;
  async function refreshCall() {
    const seq = ++callSeq;
    const answer = await api(urls.callUrl);
    if (seq !== callSeq || !answer.ok) return;
    let next = answer.data.call;
    const preview = answer.data.preview;
    if (!next && preview) {
      // the card of the customer being previewed: the same panel, before any call
      next = Object.assign({ attempt_id: null, call_state: null, disposition: null, preview: true }, preview);
    }
    if (next) note("");
    const same = call && next && call.attempt_id === next.attempt_id && call.entry_id === next.entry_id;
    if (!same) { resetDisposition(); }
    renderCall(next);
  }

  // -- preview dialing ----------------------------------------------------------------

  function note(text) {
    const box = $("preview-note");
    box.textContent = text || "";
    box.hidden = !text;
  }

  async function nextCustomer(entryId) {
    clearErrors();
    const answer = await api(urls.previewNextUrl, entryId ? { entry_id: entryId } : {});
    if (!answer.ok) { showError(answer.data, $("state-error")); return; }
    renderState(answer.data.state);
    if (!answer.data.preview) { note(answer.data.message); return; }
    note("");
    refreshCall();
  }

  async function dial() {
    if (!previewing() || !call || !call.preview) return;
    clearErrors();
    $("dial-btn").disabled = true;
    const answer = await api(urls.previewDialUrl, { entry_id: call.entry_id });
    $("dial-btn").disabled = false;
    if (!answer.ok) {
      // the contact policy may hold the customer back now: the agent is ready again
      showError(answer.data, $("state-error"));
      const state_ = await api(urls.stateUrl);
      if (state_.ok) renderState(state_.data);
      refreshCall();
      return;
    }
    dialed = answer.data.attempt_id;
    renderState(answer.data.state);
    refreshCall();
  }

  async function skip() {
    if (!previewing() || !call || !call.preview) return;
    clearErrors();
    const answer = await api(urls.previewSkipUrl, { entry_id: call.entry_id });
    if (!answer.ok) { showError(answer.data, $("state-error")); return; }
    renderState(answer.data);
    note("Skipped: the customer is offered again in 15 minutes.");
    refreshCall();
  }

  // a dialed preview that ends with nobody on the line makes the agent ready again
  let dialed = null;
  function previewEnded(before, next) {
    if (before.s === "preview" && before.attempt && dialed === before.attempt && next.state === "ready") {
      note("Nobody answered: the dialer tries this customer again by the campaign's retry rules.");
      dialed = null;
    }
  }

  // -- outcomes -----------------------------------------------------------------------

  function resetDisposition() {
    pendingCode = null;
    show($("refusal-form"), false);
    show($("callback-form"), false);
    $("refusal-form").reset();
    $("callback-form").reset();
    $("notes").value = "";
    $("cb-mine").textContent = "";
    show($("dispo-done"), false);
    clearErrors();
    root.querySelectorAll(".dispo").forEach((b) => b.classList.remove("chosen"));
  }

  function choose(code) {
    if (!call || call.disposition) return;
    const button = root.querySelector(`.dispo[data-code="${code}"]`);
    if (!button || button.disabled) return;
    clearErrors();
    root.querySelectorAll(".dispo").forEach((b) => b.classList.toggle("chosen", b === button));
    show($("refusal-form"), code === "refused");
    show($("callback-form"), code === "callback");
    if (code === "refused") { pendingCode = code; $("refusal_reason").focus(); return; }
    if (code === "callback") { pendingCode = code; $("callback_local").focus(); return; }
    submit(code, {});
  }

  function afterCall() {
    const value = $("then").value;
    if (value.startsWith("paused:")) return { then: "paused", pause_code: value.slice(7) };
    return { then: value };
  }

  async function submit(code, extra) {
    if (!call) return;
    const body = Object.assign({ code: code, notes: $("notes").value }, afterCall(), extra);
    const url = urls.dispositionUrl.replace("ATTEMPT", String(call.attempt_id));
    root.querySelectorAll(".dispo").forEach((b) => { b.disabled = true; });
    const answer = await api(url, body);
    if (!answer.ok) {
      renderCallState(call.call_state);
      showError(answer.data);
      return;
    }
    call.disposition = answer.data.disposition;
    show($("refusal-form"), false);
    show($("callback-form"), false);
    const done = $("dispo-done");
    done.textContent = `Recorded: ${label(call.disposition.code)}.`;
    done.hidden = false;
    if (answer.data.state) renderState(answer.data.state);
    renderCallState(call.call_state);
    refreshLists();
  }

  // the instant a wall time in ``zone`` stands for (no library: two passes over the offset)
  function zonedToDate(local, zone) {
    const [d, t] = local.split("T");
    const [y, mo, da] = d.split("-").map(Number);
    const [h, mi] = t.split(":").map(Number);
    let guess = Date.UTC(y, mo - 1, da, h, mi);
    for (let i = 0; i < 2; i++) {
      const parts = {};
      new Intl.DateTimeFormat("en-US", { timeZone: zone, hourCycle: "h23", year: "numeric", month: "numeric", day: "numeric", hour: "numeric", minute: "numeric" })
        .formatToParts(new Date(guess)).forEach((p) => { parts[p.type] = Number(p.value); });
      const shown = Date.UTC(parts.year, parts.month - 1, parts.day, parts.hour, parts.minute);
      guess += Date.UTC(y, mo - 1, da, h, mi) - shown;
    }
    return new Date(guess);
  }

  function callbackEcho() {
    const value = $("callback_local").value;
    const zone = call && call.card.customer.timezone;
    if (!value) { $("cb-mine").textContent = ""; return; }
    const instant = zone ? zonedToDate(value, zone) : new Date(value);
    $("cb-mine").textContent = `That is ${when(instant.toISOString(), myZone, true)} your time (${myZone}).`;
  }

  // -- lists and figures --------------------------------------------------------------

  async function refreshLists() {
    const [callbacks, today] = await Promise.all([
      api(urls.callbacksUrl),
      api(`${urls.todayUrl}?tz=${encodeURIComponent(myZone)}`),
    ]);
    if (callbacks.ok) {
      const list = $("callbacks");
      clear(list);
      callbacks.data.callbacks.forEach((cb) => {
        const li = el("li", null, cb.overdue ? "overdue" : "");
        li.append(el("strong", cb.customer), el("span", ` · ${cb.campaign}`, "muted"));
        const times = el("div", null, "times");
        times.append(
          el("span", `${when(cb.callback_at, cb.customer_timezone, true)} theirs`),
          el("span", `${when(cb.callback_at, myZone, true)} yours`, "muted"),
        );
        li.append(times);
        li.append(el("span", cb.shared ? "shared" : "personal", "tag"));
        if (cb.overdue) li.append(el("span", "due", "tag tag-warn"));
        // the agent's own call-back, due, on the campaign they work: call it now
        if (!cb.shared && cb.overdue && cb.campaign_id === state.campaign_id && state.state === "ready") {
          const now_ = el("button", "Call now", "btn btn-quiet btn-small");
          now_.type = "button";
          now_.addEventListener("click", () => nextCustomer(cb.list_entry_id));
          li.append(now_);
        }
        list.append(li);
      });
      if (!callbacks.data.callbacks.length) list.append(el("li", "None yet.", "muted"));
    }
    if (today.ok) {
      $("t-calls").textContent = today.data.calls;
      $("t-contacts").textContent = today.data.contacts;
      $("t-conversions").textContent = today.data.conversions;
      $("t-talk").textContent = duration(today.data.talk_seconds);
    }
  }

  // -- live updates -------------------------------------------------------------------

  function listen() {
    const source = new EventSource(urls.eventsUrl);
    const live = $("live");
    source.onopen = () => { live.textContent = "live"; live.className = "live live-on"; };
    source.onerror = () => { live.textContent = "reconnecting…"; live.className = "live live-off"; };
    source.addEventListener("state", (event) => {
      const next = JSON.parse(event.data);
      const before = { attempt: state.attempt_id, s: state.state, call: call && call.call_state };
      renderState(next);
      previewEnded(before, next);
      voiceBoard();
      if (next.attempt_id !== before.attempt || (call && next.call_state && next.call_state !== before.call)) {
        refreshCall();
      } else if (call && next.call_state) {
        renderCallState(next.call_state);
      }
      if (next.state !== before.s) refreshLists();
    });
  }

  // -- the voice leg -----------------------------------------------------------------
  // With real Twilio the agent talks through Twilio's Voice JS SDK: a Device registered as
  // the agent's client identity, the one the answer webhook bridges answered calls to. The
  // SDK bundle (served by this app) loads only then. Against the carrier simulator the
  // token route says "simulated", none of this runs and the call's states come from the
  // board alone, as before.

  const voiceTokenUrl = urls.voiceTokenUrl || "/api/agent/voice-token";
  const LEG_WAIT_MS = 10000; // a ringing leg the board has not given this agent is turned away
  const voice = {
    device: null,
    call: null, // the SDK's Call ringing or talking now
    attempt: null, // the attempt the leg belongs to
    leg: null, // ringing | connected | ended: what the SDK says of the agent's leg
    accepted: false,
    waiting: null, // the timer that turns away a leg nobody claimed
  };

  // the state the agent sees: the leg's while this call has one, unless the carrier has
  // already ended the call
  function legState(name) {
    if (!voice.leg || !call || voice.attempt !== call.attempt_id || name === "ended") return name;
    return voice.leg;
  }

  // the agent hung up but the dialer has not yet ended the call: outcomes wait for it
  function legHeld() {
    return !!(voice.device && call && state.state === "talk" && state.attempt_id === call.attempt_id);
  }

  function voiceParts() {
    let badge = $("voice-state");
    if (!badge) {
      badge = el("span", "headset: starting…", "live");
      badge.id = "voice-state";
      badge.title = "Your headset, through Twilio";
      $("live").after(badge);
      const error = el("p", null, "form-error");
      error.id = "voice-error";
      error.setAttribute("role", "alert");
      error.hidden = true;
      $("state-error").after(error);
      const hangup = el("button", "Hang up", "btn btn-quiet");
      hangup.type = "button";
      hangup.id = "hangup-btn";
      hangup.hidden = true;
      hangup.addEventListener("click", () => { if (voice.call) voice.call.disconnect(); });
      // the call's state and the button side by side at the end of the call's heading
      const stateNode = $("call-state"), pair = el("span");
      Object.assign(pair.style, { display: "inline-flex", alignItems: "center", gap: "0.5rem" });
      stateNode.replaceWith(pair);
      pair.append(stateNode, hangup);
    }
    return badge;
  }
  function voiceBadge(text, on) {
    const badge = voiceParts();
    badge.textContent = `headset: ${text}`;
    badge.className = "live " + (on ? "live-on" : "live-off");
  }
  function voiceError(message) {
    voiceParts();
    const box = $("voice-error");
    box.textContent = message;
    box.hidden = !message;
  }

  // Twilio's error codes the agent can act on; the rest are shown with their code
  function voiceMessage(error) {
    const code = error && error.code;
    if ([31401, 31402, 31208, 53405].includes(code)) {
      return "The browser did not let the console use your microphone: allow it for this page, then reload.";
    }
    if ([20101, 20104, 31204, 31205, 31206].includes(code)) {
      return "Twilio refused the headset's sign-in; reload the page. If it keeps happening, tell your manager.";
    }
    if ([31005, 31009, 53000, 53001].includes(code)) {
      return "The connection to Twilio dropped; the headset is trying again.";
    }
    const text = (error && (error.message || error.name)) || "unknown error";
    return `Headset: ${text}${code ? ` (${code})` : ""}.`;
  }

  function loadScript(src) {
    return new Promise((resolve, reject) => {
      const script = document.createElement("script");
      script.src = src;
      script.onload = resolve;
      script.onerror = () => reject(new Error("the voice software did not load"));
      document.head.append(script);
    });
  }

  function setLeg(name) {
    voice.leg = name;
    const hangup = $("hangup-btn");
    if (hangup) hangup.hidden = name !== "connected";
    if (call) renderCallState(call.call_state);
  }

  function legOver(c) {
    if (voice.call !== c) return;
    clearTimeout(voice.waiting);
    voice.call = null;
    setLeg("ended");
    refreshCall(); // the carrier's word on the call follows
  }

  // accept the ringing leg once the board says a call is being connected to this agent
  function voiceBoard() {
    const c = voice.call;
    if (!c || voice.accepted || state.state !== "talk" || !state.attempt_id) return;
    voice.accepted = true;
    voice.attempt = state.attempt_id;
    clearTimeout(voice.waiting);
    setLeg("ringing");
    c.accept();
  }

  async function incoming(c) {
    if (voice.call) { c.reject(); return; }
    voice.call = c;
    voice.accepted = false;
    voice.attempt = state.attempt_id || null;
    c.on("accept", () => { if (voice.call === c) { voiceError(""); setLeg("connected"); } });
    c.on("disconnect", () => legOver(c));
    c.on("cancel", () => legOver(c));
    c.on("reject", () => legOver(c));
    c.on("error", (error) => voiceError(voiceMessage(error)));
    setLeg("ringing");
    voice.waiting = setTimeout(() => {
      if (voice.call === c && !voice.accepted) {
        c.reject();
        voiceError("A call rang that the dialer had not given you; it was turned away.");
      }
    }, LEG_WAIT_MS);
    voiceBoard();
    if (!voice.accepted) {
      // the event stream may be behind the webhook that claimed this agent: ask the board
      const answer = await api(urls.stateUrl);
      if (answer.ok) {
        const before = state.attempt_id;
        renderState(answer.data);
        if (state.attempt_id !== before) refreshCall(); // the stream will not tell it again
      }
      voiceBoard();
    }
  }

  async function renewToken() {
    const answer = await api(voiceTokenUrl);
    if (answer.ok && answer.data.mode === "twilio" && voice.device) {
      voice.device.updateToken(answer.data.token);
    } else {
      voiceError("The headset's sign-in could not be renewed; reload the page.");
    }
  }

  async function startVoice() {
    const answer = await api(voiceTokenUrl);
    if (!answer.ok || answer.data.mode !== "twilio") return; // simulated: nothing changes
    const grant = answer.data;
    voiceBadge("starting…", false);
    await loadScript(grant.sdk_url);
    const Device = window.TwilioVoice.Device;
    const sounds = {}; // every sound a short silence from this app: nothing from a CDN
    Object.values(Device.SoundName).forEach((name) => { sounds[name] = grant.sound_url; });
    const device = new Device(grant.token, {
      sounds: sounds,
      codecPreferences: ["opus", "pcmu"],
      closeProtection: "You are on a call: leaving this page hangs it up.",
      logLevel: "warn",
      tokenRefreshMs: 30000,
    });
    voice.device = device;
    device.on("registering", () => voiceBadge("connecting…", false));
    device.on("registered", () => { voiceBadge("ready", true); voiceError(""); });
    device.on("unregistered", () => voiceBadge("offline", false));
    device.on("error", (error) => voiceError(voiceMessage(error)));
    device.on("tokenWillExpire", () => { renewToken(); });
    device.on("incoming", (c) => { incoming(c); });
    window.addEventListener("pagehide", () => device.destroy());
    await device.register();
  }

  // -- wiring -------------------------------------------------------------------------

  $("login-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("campaign").value;
    clearErrors();
    if (!value) { showError({ field: "campaign_id", message: "Choose a campaign to work on." }); return; }
    move(urls.loginUrl, { campaign_id: Number(value) });
  });
  $("ready-btn").addEventListener("click", () => move(urls.readyUrl));
  $("next-btn").addEventListener("click", () => nextCustomer());
  $("dial-btn").addEventListener("click", dial);
  $("skip-btn").addEventListener("click", skip);
  $("pause-form").addEventListener("submit", (event) => {
    event.preventDefault();
    move(urls.pauseUrl, { code: $("pause-code").value });
  });
  $("logout-btn").addEventListener("click", () => move(urls.logoutUrl));
  root.querySelectorAll(".dispo").forEach((b) => b.addEventListener("click", () => choose(b.dataset.code)));
  $("refusal-form").addEventListener("submit", (event) => {
    event.preventDefault();
    submit("refused", { refusal_reason: $("refusal_reason").value, funnel_stage: $("funnel_stage").value });
  });
  $("callback-form").addEventListener("submit", (event) => {
    event.preventDefault();
    const value = $("callback_local").value;
    const zone = call && call.card.customer.timezone;
    const when_ = !value ? {} : zone ? { callback_local: value } : { callback_at: new Date(value).toISOString() };
    submit("callback", Object.assign({ callback_shared: $("callback_shared").checked }, when_));
  });
  $("callback_local").addEventListener("input", callbackEcho);
  root.querySelectorAll("[data-cancel]").forEach((b) => b.addEventListener("click", () => {
    pendingCode = null;
    show($("refusal-form"), false);
    show($("callback-form"), false);
    root.querySelectorAll(".dispo").forEach((x) => x.classList.remove("chosen"));
  }));

  document.addEventListener("keydown", (event) => {
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    if (event.key === "Escape") {
      root.querySelectorAll("[data-cancel]")[0].click();
      return;
    }
    const target = event.target;
    const typing = target && (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
    if (typing) return;
    const button = root.querySelector(`.dispo[data-key="${event.key}"]`);
    if (button) { event.preventDefault(); choose(button.dataset.code); return; }
    if ((event.key === "r" || event.key === "R") && !$("ready-btn").hidden) { event.preventDefault(); move(urls.readyUrl); }
    const key = event.key.toLowerCase();
    if (key === "n" && !$("next-btn").hidden) { event.preventDefault(); nextCustomer(); }
    if (key === "d" && previewing()) { event.preventDefault(); dial(); }
    if (key === "s" && previewing()) { event.preventDefault(); skip(); }
  });

  async function start() {
    const answer = await api(urls.stateUrl);
    if (answer.ok) {
      campaigns = answer.data.campaigns || [];
      renderState(answer.data);
    }
    await refreshCall();
    refreshLists();
    listen();
    setInterval(tick, 1000);
    startVoice().catch((error) => voiceError(`The headset could not start (${error.message}); reload the page.`));
  }
  start().catch((error) => {
    const box = $("state-error");
    box.textContent = `The console could not start (${error.message}); reload the page.`;
    box.hidden = false;
  });
})();
