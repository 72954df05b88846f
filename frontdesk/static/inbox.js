// The built-in inbox page: queues, one conversation, claim / reply / note / hand back / close, live over a WebSocket.
// Every text from shoppers and agents is put in the page with textContent, never as HTML.
(() => {
  "use strict";
  const root = document.getElementById("inbox");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const me = Number(root.dataset.userId);
  const $ = (id) => document.getElementById(id);
  const AUTHORS = { shopper: "Shopper", ai: "AI", agent: "Agent", system: "System" };
  let queue = "unassigned";
  let current = null; // the open conversation's id
  let detail = null;
  let socket = null;
  let retry = 500;
  let refreshTimer = null;
  let searching = null; // the search shown in the list instead of the queue, or null
  let savedReplies = [];

  async function api(path, options = {}) {
    const response = await fetch(path, {
      credentials: "same-origin",
      ...options,
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf, ...(options.headers || {}) },
    });
    if (response.status === 401) {
      window.location.href = "/signin?next=" + encodeURIComponent("/inbox" + window.location.hash);
      throw new Error("signed out");
    }
    const body = response.status === 204 ? null : await response.json().catch(() => null);
    if (!response.ok) {
      const detail = body && body.detail;
      throw new Error(typeof detail === "string" ? detail : "the request failed (" + response.status + ")");
    }
    return body;
  }

  function flash(text, kind = "info") {
    const node = $("flash");
    node.textContent = text;
    node.dataset.kind = kind;
  }

  function when(iso) {
    const at = new Date(iso);
    return at.toLocaleString([], { dateStyle: "short", timeStyle: "short" });
  }

  function el(tag, attrs = {}, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs)) {
      if (key === "text") node.textContent = value;
      else if (key === "className") node.className = value;
      else node.setAttribute(key, value);
    }
    for (const child of children) if (child) node.append(child);
    return node;
  }

  // Queues ----------------------------------------------------------------------------------------------------------
  // Each list load (a queue or a search) takes a number; an answer that comes back after a newer load was asked for
  // is dropped, so a queue refresh in flight never draws over the search results typed after it, nor the reverse.
  let listLoads = 0;

  async function loadQueue() {
    if (searching !== null) return runSearch(searching);
    const load = ++listLoads;
    const data = await api("/api/inbox/queues/" + queue);
    if (load !== listLoads) return;
    for (const [name, count] of Object.entries(data.counts)) {
      const badge = document.querySelector('[data-count="' + name + '"]');
      if (badge) badge.textContent = String(count);
    }
    renderTickets(data.tickets);
    $("empty").textContent = "Nothing here right now.";
  }

  function renderTickets(tickets) {
    const list = $("tickets");
    // a refresh replaces every node: the ticket that had the keyboard's focus keeps it (j/k go on from there)
    const focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".ticket");
    const keep = focused && list.contains(focused) ? focused.dataset.conversation : null;
    list.replaceChildren();
    for (const ticket of tickets) {
      const who = ticket.email || ticket.phone || "Anonymous shopper";
      const unread = ticket.unread > 0 && ticket.conversation_id !== current;
      const button = el("button", { type: "button", className: "ticket" + (unread ? " unread" : ""),
        "data-conversation": ticket.conversation_id,
        "aria-current": ticket.conversation_id === current ? "true" : "false" },
        el("span", { className: "who", text: who }),
        unread ? el("span", { className: "unread-mark", "data-unread": String(ticket.unread),
          text: String(ticket.unread) + " unread" }) : null,
        el("span", { className: "reason", text: ticket.reason }),
        ticket.last_message ? el("span", { className: "preview",
          text: (AUTHORS[ticket.last_message.author] || ticket.last_message.author) + ": " + ticket.last_message.text }) : null,
        el("span", { className: "meta", text: [ticket.channel, ticket.state === "open" ? null : ticket.state.replace("_", " "),
          when(ticket.opened_at), ticket.assignee ? "with " + ticket.assignee : "unassigned"].filter(Boolean).join(" · ") }));
      button.addEventListener("click", () => openConversation(ticket.conversation_id));
      list.append(el("li", {}, button));
      if (ticket.conversation_id === keep) button.focus();
    }
    $("empty").hidden = tickets.length > 0;
  }

  // Search ------------------------------------------------------------------------------------------------------------
  async function runSearch(text) {
    const load = ++listLoads;
    searching = text;
    const found = await api("/api/inbox/search?q=" + encodeURIComponent(text));
    if (load !== listLoads) return;
    $("results-head").hidden = false;
    $("results-title").textContent = found.length + (found.length === 1 ? " conversation" : " conversations") +
      " matching “" + text + "”";
    renderTickets(found);
    $("empty").textContent = "No conversation matches “" + text + "”.";
  }

  function endSearch() {
    searching = null;
    $("results-head").hidden = true;
    $("search-text").value = "";
  }

  $("search").addEventListener("submit", (event) => {
    event.preventDefault();
    const text = $("search-text").value.trim();
    if (!text) {
      endSearch();
      loadQueue().catch((error) => flash(error.message, "error"));
      return;
    }
    runSearch(text).catch((error) => flash(error.message, "error"));
  });

  $("clear-search").addEventListener("click", () => {
    endSearch();
    loadQueue().catch((error) => flash(error.message, "error"));
  });

  function scheduleRefresh() {
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(() => {
      loadQueue().catch((error) => flash(error.message, "error"));
      if (current) loadConversation().catch(() => {});
    }, 80);
  }

  for (const button of document.querySelectorAll(".queue")) {
    button.addEventListener("click", () => {
      queue = button.dataset.queue;
      endSearch();
      for (const other of document.querySelectorAll(".queue")) other.setAttribute("aria-pressed", String(other === button));
      loadQueue().catch((error) => flash(error.message, "error"));
    });
  }

  // One conversation ------------------------------------------------------------------------------------------------
  async function openConversation(conversationId, focusReply = true) {
    current = conversationId;
    if (window.location.hash !== "#" + conversationId) history.replaceState(null, "", "#" + conversationId);
    for (const node of document.querySelectorAll(".ticket")) {
      node.setAttribute("aria-current", String(node.dataset.conversation === conversationId));
    }
    hideShortcuts();
    watch();
    await loadConversation();
    loadQueue().catch(() => {}); // opening it marked it read
    if (focusReply) $("text").focus();
  }

  async function loadConversation() {
    detail = await api("/api/inbox/conversations/" + encodeURIComponent(current));
    renderConversation();
  }

  function renderConversation() {
    const d = detail;
    $("detail").hidden = false;
    $("choose").hidden = true;
    $("detail-title").textContent = d.email || d.phone || "Anonymous shopper";
    const facts = [
      ["Email", d.email || "—"], ["Phone", d.phone || "—"], ["Profile", d.profile_id || "—"],
      ["Channel", d.channel], ["Reason", d.reason], ["Status", d.status === "with_team" ? "with the team" : d.status],
      ["Assigned to", d.assignee || "nobody"], ["Ticket", d.ref],
    ];
    $("facts").replaceChildren(...facts.flatMap(([name, value]) => [el("dt", { text: name }), el("dd", { text: value })]));
    const open = d.state === "open";
    const mine = d.assignee_id === me;
    $("claim").hidden = !open || d.assignee_id !== null;
    $("release").hidden = !open || !mine;
    $("hand-back").hidden = !open || d.status !== "with_team";
    $("close").hidden = d.status === "closed";
    $("composer").hidden = false;
    for (const input of $("composer").querySelectorAll('input[value="reply"]')) input.disabled = !open;
    if (!open) $("composer").querySelector('input[value="note"]').checked = true;
    renderEarlier(d.earlier);
    const items = [
      ...d.messages.map((m) => ({ at: m.at, node: messageNode(m) })),
      ...d.notes.map((n) => ({ at: n.at, node: noteNode(n) })),
    ].sort((a, b) => new Date(a.at) - new Date(b.at));
    const log = $("transcript");
    log.replaceChildren(...items.map((item) => item.node));
    log.scrollTop = log.scrollHeight;
  }

  function renderEarlier(earlier) {
    const STATUS = { with_team: "with the team", closed: "closed", ai: "with the AI" };
    $("earlier").replaceChildren(...earlier.map((c) => {
      const label = [when(c.started_at), c.channel, STATUS[c.status] || c.status].join(" · ");
      if (c.in_inbox) {
        const button = el("button", { type: "button", className: "button button-quiet earlier-open",
          "data-conversation": c.conversation_id, text: label });
        button.addEventListener("click", () => openConversation(c.conversation_id));
        return el("li", {}, button);
      }
      return el("li", {}, el("a", { href: "/console/conversations/" + encodeURIComponent(c.conversation_id),
        text: label + " (transcript)" }));
    }));
    $("earlier-none").hidden = earlier.length > 0;
  }

  function messageNode(m) {
    let label = AUTHORS[m.author] || m.author;
    if (m.author === "agent" && m.agent) label += " · " + m.agent;
    if (m.author === "ai" && m.confidence !== null) label += " · confidence " + m.confidence.toFixed(2);
    return el("li", { className: "msg " + m.author, "data-seq": String(m.seq) },
      el("span", { className: "who", text: label }),
      el("time", { datetime: m.at, text: when(m.at) }),
      el("p", { text: m.text }));
  }

  function noteNode(n) {
    return el("li", { className: "msg note" },
      el("span", { className: "who", text: "Internal note · " + n.author }),
      el("time", { datetime: n.at, text: when(n.at) }),
      el("p", { text: n.text }));
  }

  async function act(path, done) {
    if (!current) return; // nothing chosen: the buttons are hidden, a shortcut may still fire
    try {
      await api("/api/inbox/conversations/" + encodeURIComponent(current) + path, { method: "POST" });
      flash(done);
    } catch (error) {
      flash(error.message, "error");
    }
    scheduleRefresh();
  }

  $("claim").addEventListener("click", () => act("/claim", "Assigned to you."));
  $("release").addEventListener("click", () => act("/release", "Back in the unassigned queue."));
  $("hand-back").addEventListener("click", () => act("/hand-back", "Handed back: the AI answers this shopper again."));
  $("close").addEventListener("click", () => act("/close", "Conversation closed."));

  $("composer").addEventListener("submit", async (event) => {
    event.preventDefault();
    const text = $("text").value.trim();
    if (!text || !current) return;
    const mode = $("composer").querySelector('input[name="mode"]:checked').value;
    $("send").disabled = true;
    try {
      const path = mode === "note" ? "/notes" : "/reply";
      await api("/api/inbox/conversations/" + encodeURIComponent(current) + path, {
        method: "POST", body: JSON.stringify({ text }),
      });
      $("text").value = "";
      flash(mode === "note" ? "Note added (the shopper does not see it)." : "Reply sent.");
    } catch (error) {
      flash(error.message, "error");
    } finally {
      $("send").disabled = false;
    }
    scheduleRefresh();
  });

  $("text").addEventListener("keydown", (event) => {
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) $("composer").requestSubmit();
  });

  // The shopper sees "Sam is typing…" while a reply (never a note) is being written; at most one every 2 s.
  let typingSent = 0;
  $("text").addEventListener("input", () => {
    const mode = $("composer").querySelector('input[name="mode"]:checked').value;
    if (mode !== "reply" || !current || !socket || socket.readyState !== WebSocket.OPEN) return;
    if (Date.now() - typingSent < 2000) return;
    typingSent = Date.now();
    socket.send(JSON.stringify({ type: "typing", conversation_id: current }));
  });

  // Saved replies: "/name" in the reply box (or the menu button) lists them; arrows + Enter insert, Escape closes --------
  let picker = null; // { start, end, choices, active }: the "/name" being typed (start === end: from the menu)

  async function loadSavedReplies() {
    savedReplies = await api("/api/inbox/saved-replies");
    renderSavedAdmin();
  }

  function slashFragment() {
    const box = $("text");
    const before = box.value.slice(0, box.selectionStart);
    const match = /(^|\s)\/([\w-]*)$/.exec(before);
    return match ? { start: before.length - match[2].length - 1, end: box.selectionStart, filter: match[2] } : null;
  }

  function openPicker(start, end, filter) {
    const wanted = filter.toLowerCase();
    const choices = savedReplies.filter((r) => r.name.toLowerCase().includes(wanted));
    picker = { start, end, choices, active: 0 };
    renderPicker();
  }

  function closePicker() {
    picker = null;
    $("saved-list").hidden = true;
    $("saved-list").replaceChildren();
    for (const id of ["text", "saved-menu"]) $(id).setAttribute("aria-expanded", "false");
    $("text").removeAttribute("aria-activedescendant");
  }

  function renderPicker() {
    const list = $("saved-list");
    if (!picker.choices.length) {
      const none = savedReplies.length ? "No saved reply matches." : "No saved replies yet: an admin adds them.";
      list.replaceChildren(el("li", { className: "saved-none", role: "option", "aria-disabled": "true", text: none }));
    } else {
      list.replaceChildren(...picker.choices.map((reply, index) => {
        const option = el("li", { id: "saved-option-" + reply.id, role: "option", className: "saved-option",
          "aria-selected": String(index === picker.active) },
          el("span", { className: "saved-name", text: "/" + reply.name }),
          el("span", { className: "saved-text", text: reply.text }));
        option.addEventListener("mousedown", (event) => { event.preventDefault(); insertSaved(reply); });
        return option;
      }));
      $("text").setAttribute("aria-activedescendant", "saved-option-" + picker.choices[picker.active].id);
    }
    list.hidden = false;
    for (const id of ["text", "saved-menu"]) $(id).setAttribute("aria-expanded", "true");
  }

  function insertSaved(reply) {
    const box = $("text");
    const { start, end } = picker;
    box.value = box.value.slice(0, start) + reply.text + box.value.slice(end);
    const caret = start + reply.text.length;
    closePicker();
    box.focus();
    box.setSelectionRange(caret, caret);
    flash("Saved reply “" + reply.name + "” inserted.");
  }

  $("text").addEventListener("input", () => {
    const fragment = slashFragment();
    if (fragment) openPicker(fragment.start, fragment.end, fragment.filter);
    else if (picker && picker.start !== picker.end) closePicker();
  });

  $("text").addEventListener("keydown", (event) => {
    if (!picker) {
      if (event.key === "Escape") $("text").blur(); // back to the shortcuts
      return;
    }
    if (event.key === "Escape") {
      event.preventDefault();
      event.stopPropagation();
      closePicker();
    } else if (picker.choices.length && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      const step = event.key === "ArrowDown" ? 1 : -1;
      picker.active = (picker.active + step + picker.choices.length) % picker.choices.length;
      renderPicker();
    } else if (event.key === "Enter" && !event.ctrlKey && !event.metaKey && picker.choices.length) {
      event.preventDefault();
      insertSaved(picker.choices[picker.active]);
    }
  });

  $("text").addEventListener("blur", () => { if (picker && picker.start !== picker.end) closePicker(); });

  $("saved-menu").addEventListener("click", () => {
    if (picker) {
      closePicker();
      return;
    }
    const box = $("text");
    openPicker(box.selectionStart, box.selectionEnd, "");
    box.focus();
  });

  // Admins keep the saved replies on this page.
  const admin = root.dataset.admin === "true";
  let editing = null; // the id of the saved reply in the form, or null: a new one

  function renderSavedAdmin() {
    if (!admin) return;
    $("saved-manager").hidden = false;
    $("saved-admin").replaceChildren(...savedReplies.map((reply) => {
      const edit = el("button", { type: "button", className: "button button-quiet", text: "Edit",
        "aria-label": "Edit /" + reply.name });
      edit.addEventListener("click", () => {
        editing = reply.id;
        $("saved-name").value = reply.name;
        $("saved-text").value = reply.text;
        $("saved-save").textContent = "Save changes";
        $("saved-cancel").hidden = false;
        $("saved-name").focus();
      });
      const remove = el("button", { type: "button", className: "button button-quiet danger", text: "Delete",
        "aria-label": "Delete /" + reply.name });
      remove.addEventListener("click", async () => {
        try {
          await api("/api/inbox/saved-replies/" + reply.id, { method: "DELETE" });
          flash("Saved reply “" + reply.name + "” deleted.");
          await loadSavedReplies();
        } catch (error) {
          flash(error.message, "error");
        }
      });
      return el("li", {}, el("strong", { text: "/" + reply.name }), el("span", { text: reply.text }),
        el("span", { className: "actions" }, edit, remove));
    }));
  }

  function resetSavedForm() {
    editing = null;
    $("saved-form").reset();
    $("saved-save").textContent = "Add saved reply";
    $("saved-cancel").hidden = true;
  }

  $("saved-cancel").addEventListener("click", resetSavedForm);
  $("saved-form").addEventListener("submit", async (event) => {
    event.preventDefault();
    const body = JSON.stringify({ name: $("saved-name").value.trim(), text: $("saved-text").value.trim() });
    try {
      if (editing === null) await api("/api/inbox/saved-replies", { method: "POST", body });
      else await api("/api/inbox/saved-replies/" + editing, { method: "PATCH", body });
      flash("Saved reply “" + $("saved-name").value.trim() + "” saved.");
      resetSavedForm();
      await loadSavedReplies();
    } catch (error) {
      flash(error.message, "error");
    }
  });

  // Keyboard shortcuts: never while typing in a field ---------------------------------------------------------------
  function typing(target) {
    return target instanceof HTMLElement &&
      (target.isContentEditable || ["INPUT", "TEXTAREA", "SELECT"].includes(target.tagName));
  }

  function showShortcuts() {
    $("shortcuts").hidden = false;
    $("hide-shortcuts").focus();
  }

  function hideShortcuts() {
    $("shortcuts").hidden = true;
  }

  $("show-shortcuts").addEventListener("click", showShortcuts);
  $("hide-shortcuts").addEventListener("click", hideShortcuts);

  function step(by) {
    const tickets = [...document.querySelectorAll("#tickets .ticket")];
    if (!tickets.length) {
      flash("No conversation in this list.");
      return;
    }
    const at = tickets.findIndex((node) => node.dataset.conversation === current);
    const next = at === -1 ? (by > 0 ? 0 : tickets.length - 1) : Math.min(Math.max(at + by, 0), tickets.length - 1);
    if (next === at) {
      flash(by > 0 ? "This is the last conversation in the list." : "This is the first conversation in the list.");
      return;
    }
    const target = tickets[next];
    flash("Opened " + target.querySelector(".who").textContent + ".");
    // the keyboard stays on the list (a refresh may have replaced the node: focus the one showing now)
    const id = target.dataset.conversation;
    target.focus();
    openConversation(id, false)
      .then(() => {
        const shown = [...document.querySelectorAll("#tickets .ticket")].find((node) => node.dataset.conversation === id);
        if (shown) shown.focus();
      })
      .catch((error) => flash(error.message, "error"));
  }

  function press(id, unavailable) {
    if (current && !$("detail").hidden && !$(id).hidden) $(id).click();
    else flash(unavailable);
  }

  document.addEventListener("keydown", (event) => {
    if (event.key === "Escape" && !$("shortcuts").hidden) {
      hideShortcuts();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    const actions = {
      j: () => step(1),
      k: () => step(-1),
      a: () => press("claim", "Nothing to assign: open an unassigned conversation first."),
      e: () => press("close", "Nothing to close: open a conversation first."),
      "/": () => {
        if (!current) {
          flash("Open a conversation first.");
          return;
        }
        $("text").focus();
      },
      "?": () => ($("shortcuts").hidden ? showShortcuts() : hideShortcuts()),
    };
    const action = actions[event.key];
    if (!action) return;
    event.preventDefault();
    action();
  });

  // Availability and notifications -----------------------------------------------------------------------------------
  async function loadAvailability() {
    const a = await api("/api/inbox/availability");
    showAvailability(a);
  }

  function showAvailability(a) {
    $("away").setAttribute("aria-pressed", String(a.away));
    $("away").textContent = a.away ? "I'm back" : "Set me away";
    const hours = a.within_office_hours ? "within office hours" : "outside office hours";
    $("team").textContent = a.online + " agent" + (a.online === 1 ? "" : "s") + " available · " + hours;
  }

  $("away").addEventListener("click", async () => {
    const away = $("away").getAttribute("aria-pressed") !== "true";
    try {
      showAvailability(await api("/api/inbox/away", { method: "PUT", body: JSON.stringify({ away }) }));
      flash(away ? "You are away: shoppers get the auto-response." : "You are available.");
    } catch (error) {
      flash(error.message, "error");
    }
  });

  function notificationsReady() {
    $("notify").hidden = !("Notification" in window) || Notification.permission !== "default";
  }
  $("notify").addEventListener("click", async () => {
    await Notification.requestPermission();
    notificationsReady();
  });
  $("sound").checked = localStorage.getItem("frontdesk.inbox.sound") === "on";
  $("sound").addEventListener("change", () => {
    localStorage.setItem("frontdesk.inbox.sound", $("sound").checked ? "on" : "off");
  });

  function beep() {
    try {
      const audio = new AudioContext();
      const tone = audio.createOscillator();
      const gain = audio.createGain();
      tone.frequency.value = 880;
      gain.gain.setValueAtTime(0.15, audio.currentTime);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 0.4);
      tone.connect(gain).connect(audio.destination);
      tone.start();
      tone.stop(audio.currentTime + 0.4);
    } catch (_) { /* no audio device: the visual notice is enough */ }
  }

  function announceHandoff(conversationId) {
    flash("New handoff waiting in the unassigned queue.");
    if ($("sound").checked) beep();
    if ("Notification" in window && Notification.permission === "granted") {
      const note = new Notification("New handoff", { body: "A shopper is waiting for the team.", tag: conversationId });
      note.onclick = () => { window.focus(); openConversation(conversationId); };
    }
  }

  // Live updates ------------------------------------------------------------------------------------------------------
  function watch() {
    if (socket && socket.readyState === WebSocket.OPEN && current) {
      socket.send(JSON.stringify({ type: "watch", conversation_id: current }));
    }
  }

  function connect() {
    const scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
    socket = new WebSocket(scheme + window.location.host + "/ws/inbox");
    socket.addEventListener("open", () => {
      retry = 500;
      $("live").textContent = "Live";
      $("live").dataset.state = "live";
      watch();
      scheduleRefresh();
    });
    socket.addEventListener("message", (message) => {
      const event = JSON.parse(message.data);
      if (event.type === "hello" || event.type === "presence") {
        loadAvailability().catch(() => {});
        return;
      }
      if (event.type === "message" && event.conversation_id === current && detail) {
        if (!detail.messages.some((m) => m.seq === event.seq)) {
          detail.messages.push({ seq: event.seq, author: event.author, kind: event.kind, text: event.text, at: event.at,
            agent: null, confidence: null });
          renderConversation();
        }
        return;
      }
      if (event.type === "conversation" && event.status === "with_team") announceHandoff(event.conversation_id);
      if (event.type === "ticket" && event.change === "claimed" && event.conversation_id === current &&
          event.assignee_id !== me) {
        flash((event.assignee || "Another agent") + " has claimed this conversation.", "error");
      }
      if (["conversation", "ticket", "activity", "note", "resync", "status"].includes(event.type)) scheduleRefresh();
    });
    socket.addEventListener("close", (event) => {
      $("live").textContent = "Reconnecting…";
      $("live").dataset.state = "down";
      if (event.code === 4401) {
        window.location.href = "/signin?next=/inbox";
        return;
      }
      setTimeout(connect, retry);
      retry = Math.min(retry * 2, 10000);
    });
  }

  notificationsReady();
  loadQueue().then(() => {
    const wanted = window.location.hash.slice(1);
    if (wanted) openConversation(wanted).catch((error) => flash(error.message, "error"));
  }).catch((error) => flash(error.message, "error"));
  loadAvailability().catch(() => {});
  loadSavedReplies().catch((error) => flash(error.message, "error"));
  connect();
})();
