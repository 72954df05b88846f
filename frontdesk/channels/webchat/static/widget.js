/*!
 * frontdesk web chat widget — one file, no build step, no third-party code.
 *
 * Embed:  <script src="https://frontdesk.example/widget.js" defer></script>
 * Signed-in shoppers: add data-email, data-user-hash (hex HMAC-SHA256 of the email) and data-name.
 * data-layout="page": the chat fills the page (frontdesk's /chat, where the link in an emailed reply leads; its
 * ?resume=… opens that conversation in this browser).
 * Protocol: docs/webchat-protocol.md. Every message text is rendered with textContent; the store's custom
 * "do not hand off" message is parsed from a small Markdown subset into DOM nodes built here.
 * Test hooks: elements carry data-frontdesk="…" (bubble, panel, log, input, send, message, …).
 */
(function () {
  "use strict";

  if (window.__frontdeskWidget) return; // embedded twice: keep the first
  window.__frontdeskWidget = true;

  var script = document.currentScript || document.querySelector('script[src*="widget.js"]');
  var PAGE = !!(script && script.dataset && script.dataset.layout === "page");
  var TOKEN_KEY = "frontdesk.token";
  var READ_KEY = "frontdesk.read"; // "<conversation id> <highest seq seen with the panel open>": the unread badge
  var MAX_CHARS = 4000;
  var MAX_BACKOFF = 30000;
  var PING_MS = 25000;
  var TYPING_MS = 2000;
  var DEFAULT_COLOUR = "#2f6f4f";
  var LABELS = { shopper: "You", ai: "Assistant", agent: "Team", system: "" };
  var ERROR_TEXT = {
    too_long: "Messages are limited to 4,000 characters.",
    rate_limited: "You're sending messages too fast; please wait a moment.",
    not_offered: "That offer is no longer open.",
    unknown_token: "Your earlier conversation could not be found, so a new one has started.",
    bad_resume_link: "This chat link has expired or is not valid, so a new conversation has started.",
    internal: "Something went wrong on our side; please try again.",
  };

  function wsUrl() {
    var base = new URL(script && script.src ? script.src : "/widget.js", location.href);
    var path = base.pathname.replace(/[^/]*$/, "") + "ws/webchat";
    return (base.protocol === "https:" ? "wss:" : "ws:") + "//" + base.host + path;
  }

  function storage() {
    try {
      return window.localStorage;
    } catch (e) {
      return null; // storage blocked: the conversation lasts as long as the page
    }
  }
  function loadToken() {
    var s = storage();
    return (s && s.getItem(TOKEN_KEY)) || null;
  }
  function saveToken(token) {
    var s = storage();
    if (!s) return;
    if (token) s.setItem(TOKEN_KEY, token);
    else s.removeItem(TOKEN_KEY);
  }

  // The resume link's value, from this page's address (?resume=…): it opens the conversation of an emailed reply.
  function pageResume() {
    try {
      return new URLSearchParams(location.search).get("resume") || null;
    } catch (e) {
      return null;
    }
  }
  // Used once: the token in the welcome replaces it, and a reload or a shared screenshot should not carry it.
  function forgetResume() {
    try {
      var url = new URL(location.href);
      url.searchParams.delete("resume");
      history.replaceState(history.state, "", url.pathname + url.search + url.hash);
    } catch (e) {
      // an old browser keeps the address; the link only adds another token for the same conversation
    }
  }

  function loadRead(conversationId) {
    var s = storage();
    var parts = ((s && s.getItem(READ_KEY)) || "").split(" ");
    return parts[0] === conversationId ? Number(parts[1]) || 0 : 0;
  }
  function saveRead(conversationId, seq) {
    var s = storage();
    if (s && conversationId) s.setItem(READ_KEY, conversationId + " " + seq);
  }

  function randomId() {
    var c = window.crypto;
    if (c && c.randomUUID) return "c-" + c.randomUUID();
    var bytes = new Uint8Array(16);
    if (c && c.getRandomValues) c.getRandomValues(bytes);
    else for (var i = 0; i < 16; i++) bytes[i] = Math.floor(Math.random() * 256);
    return "c-" + Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function el(tag, attrs, text) {
    var node = document.createElement(tag);
    if (attrs) {
      Object.keys(attrs).forEach(function (name) {
        if (attrs[name] !== null && attrs[name] !== undefined) node.setAttribute(name, attrs[name]);
      });
    }
    if (text !== undefined) node.textContent = text;
    return node;
  }

  // ---- The Markdown subset of the custom message: frontdesk/static/rich-text.js, put here when served ----
  /* rich-text.js */

  // "Sam Rivera" → "SR", "sam" → "S": the avatar of a person of the team.
  function initials(name) {
    var words = String(name).trim().split(/\s+/).filter(Boolean);
    var letters = words.length > 1 ? [words[0], words[words.length - 1]] : words.slice(0, 1);
    return letters.map(function (word) { return Array.from(word)[0] || ""; }).join("").toUpperCase() || "?";
  }

  // A link from the server that a shopper may open: a web address or a path on the store's own site, nothing else
  // (no javascript:, data: or protocol-relative //host).
  function safeLink(value) {
    if (typeof value !== "string") return null;
    if (/^https?:\/\//i.test(value)) return value;
    if (value.charAt(0) === "/" && value.charAt(1) !== "/" && value.charAt(1) !== "\\") return value;
    return null;
  }

  // ---- Colours ----
  function parseColour(value) {
    if (typeof value !== "string" || !/^#([0-9a-f]{3}|[0-9a-f]{6})$/i.test(value)) return null;
    var hex = value.slice(1);
    if (hex.length === 3) hex = hex.replace(/./g, "$&$&");
    return [0, 2, 4].map(function (i) { return parseInt(hex.slice(i, i + 2), 16); });
  }
  function readableOn(rgb) {
    var lum = rgb.map(function (c) {
      c /= 255;
      return c <= 0.03928 ? c / 12.92 : Math.pow((c + 0.055) / 1.055, 2.4);
    });
    var l = 0.2126 * lum[0] + 0.7152 * lum[1] + 0.0722 * lum[2];
    return (l + 0.05) / 0.05 > 1.05 / (l + 0.05) ? "#111111" : "#ffffff";
  }

  var CSS = [
    ":host { all: initial; }",
    "* { box-sizing: border-box; }",
    "[hidden] { display: none !important; }",
    ".root { font: 15px/1.4 system-ui, -apple-system, 'Segoe UI', Roboto, sans-serif; color: #1b1b1b; }",
    ".sr { position: absolute; width: 1px; height: 1px; padding: 0; margin: -1px; overflow: hidden;",
    "  clip: rect(0 0 0 0); white-space: nowrap; border: 0; }",
    "button, input, textarea { font: inherit; }",
    ":focus-visible { outline: 3px solid #1a73e8; outline-offset: 2px; box-shadow: 0 0 0 5px #ffffff; }",
    ".bubble { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; display: flex; align-items: center;",
    "  gap: 8px; min-height: 52px; padding: 0 20px 0 16px; border: 0; border-radius: 26px; cursor: pointer;",
    "  background: var(--fd-colour); color: var(--fd-on-colour); font-weight: 600;",
    "  box-shadow: 0 4px 14px rgba(0,0,0,.25); }",
    ".bubble svg { width: 22px; height: 22px; fill: currentColor; }",
    ".badge { min-width: 20px; height: 20px; padding: 0 6px; border-radius: 10px; background: #c62828; color: #fff;",
    "  font-size: 12px; line-height: 20px; text-align: center; }",
    ".panel { position: fixed; right: 20px; bottom: 84px; z-index: 2147483001; width: 370px;",
    "  height: min(600px, calc(100vh - 104px)); display: flex; flex-direction: column; overflow: hidden;",
    "  background: #ffffff; border-radius: 14px; box-shadow: 0 10px 40px rgba(0,0,0,.3); }",
    "@media (max-width: 480px) { .panel { inset: 0; width: 100%; height: 100%; max-height: none; border-radius: 0; } }",
    ".page .panel { inset: 0; width: 100%; height: 100%; max-height: none; border-radius: 0; box-shadow: none; }",
    ".page .bubble, .page .close { display: none; }",
    ".header { display: flex; align-items: center; gap: 8px; padding: 12px 12px 12px 16px;",
    "  background: var(--fd-colour); color: var(--fd-on-colour); }",
    ".title { flex: 1; margin: 0; font-size: 16px; font-weight: 700; }",
    ".close { border: 0; background: transparent; color: inherit; cursor: pointer; padding: 6px 10px;",
    "  border-radius: 6px; font-size: 14px; }",
    ".close:hover { background: rgba(0,0,0,.12); }",
    ".connection { padding: 4px 16px; font-size: 13px; background: #fff4ce; color: #5c4400; }",
    ".log { flex: 1; overflow-y: auto; padding: 14px; display: flex; flex-direction: column; gap: 8px;",
    "  background: #f7f7f5; }",
    ".msg { max-width: 85%; padding: 8px 12px; border-radius: 14px; white-space: pre-wrap;",
    "  overflow-wrap: anywhere; }",
    ".msg[data-author='ai'], .msg[data-author='agent'] { align-self: flex-start; background: #ffffff;",
    "  border: 1px solid #dedede; border-bottom-left-radius: 4px; }",
    ".msg[data-author='agent'] { border-color: var(--fd-colour); }",
    ".msg[data-author='shopper'] { align-self: flex-end; background: var(--fd-colour); color: var(--fd-on-colour);",
    "  border-bottom-right-radius: 4px; }",
    ".msg[data-author='system'] { align-self: center; max-width: 95%; background: transparent; color: #555;",
    "  font-size: 13px; text-align: center; }",
    ".msg[data-pending='true'] { opacity: .7; }",
    ".msg a { color: inherit; text-decoration: underline; }",
    ".who { display: flex; align-items: center; gap: 6px; margin-bottom: 2px; font-size: 12px; font-weight: 600;",
    "  color: #444; }",
    ".avatar { display: inline-flex; align-items: center; justify-content: center; width: 22px; height: 22px;",
    "  border-radius: 50%; background: var(--fd-colour); color: var(--fd-on-colour); font-size: 10px; }",
    ".bubble[hidden] { display: none; }",
    ".failed { display: block; font-size: 12px; }",
    ".failed button { margin-left: 6px; border: 1px solid currentColor; background: transparent; color: inherit;",
    "  border-radius: 6px; cursor: pointer; padding: 0 6px; }",
    ".actions { display: flex; flex-wrap: wrap; gap: 6px; margin-top: 8px; white-space: normal; }",
    ".action { border: 1px solid var(--fd-colour); background: #ffffff; color: #1b1b1b; border-radius: 16px;",
    "  padding: 6px 12px; cursor: pointer; }",
    ".action[data-action='handoff_yes'] { background: var(--fd-colour); color: var(--fd-on-colour); }",
    ".action:disabled { opacity: .45; cursor: default; }",
    ".action[aria-pressed='true'] { background: var(--fd-colour); color: var(--fd-on-colour); }",
    ".card { display: flex; flex-direction: column; gap: 4px; white-space: normal; }",
    ".card-title { font-size: 15px; }",
    ".card-facts { font-size: 13px; color: #444; }",
    ".card-description { font-size: 14px; }",
    ".card-button { align-self: flex-start; margin-top: 4px; padding: 6px 12px; border-radius: 8px;",
    "  background: var(--fd-colour); color: var(--fd-on-colour) !important; text-decoration: none !important;",
    "  font-weight: 600; }",
    ".source { display: block; margin-top: 4px; font-size: 13px; }",
    ".mail-note { margin: 0; padding: 6px 16px; font-size: 13px; background: #e8f3ec; color: #1d4d33; }",
    ".rating { display: flex; gap: 4px; margin-top: 6px; white-space: normal; }",
    ".rate { display: inline-flex; align-items: center; border: 1px solid #c4c4c4; background: #ffffff;",
    "  color: #555; border-radius: 12px; padding: 3px 8px; cursor: pointer; }",
    ".rate svg { width: 14px; height: 14px; fill: currentColor; }",
    ".rate[aria-pressed='true'] { border-color: var(--fd-colour); background: var(--fd-colour);",
    "  color: var(--fd-on-colour); }",
    ".rate:focus-visible { outline: 2px solid var(--fd-colour); outline-offset: 2px; }",
    ".typing { padding: 0 16px 4px; font-size: 13px; color: #555; background: #f7f7f5; }",
    ".notice { margin: 0; padding: 6px 16px; font-size: 13px; background: #fdecea; color: #8a1c12; }",
    ".ended { padding: 12px 16px; text-align: center; border-top: 1px solid #e4e4e4; }",
    ".ended p { margin: 0 0 8px; color: #555; }",
    ".composer { display: flex; gap: 8px; align-items: flex-end; padding: 10px 12px; border-top: 1px solid #e4e4e4; }",
    ".field { flex: 1; display: flex; flex-direction: column; gap: 2px; }",
    ".field label { font-size: 12px; color: #555; }",
    ".field textarea, .field input { width: 100%; padding: 8px 10px; border: 1px solid #8a8a8a; border-radius: 8px;",
    "  background: #fff; color: #1b1b1b; resize: none; max-height: 120px; }",
    ".primary { border: 0; border-radius: 8px; padding: 9px 14px; cursor: pointer; font-weight: 600;",
    "  background: var(--fd-colour); color: var(--fd-on-colour); }",
  ].join("\n");

  // 👍 / 👎 drawn, not typed: a page's fonts may have no emoji.
  function thumbIcon(down) {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    if (down) svg.setAttribute("transform", "rotate(180)");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M2 21h4V9H2v12zm20-11a2 2 0 0 0-2-2h-6.3l1-4.6v-.3a1.5 1.5 0 0 0-.4-1.1L13.2 1 6.6 7.6" +
      "A2 2 0 0 0 6 9v10a2 2 0 0 0 2 2h9a2 2 0 0 0 1.8-1.2l3-7.1.2-.7v-2z");
    svg.appendChild(path);
    return svg;
  }

  function chatIcon() {
    var ns = "http://www.w3.org/2000/svg";
    var svg = document.createElementNS(ns, "svg");
    svg.setAttribute("viewBox", "0 0 24 24");
    svg.setAttribute("aria-hidden", "true");
    svg.setAttribute("focusable", "false");
    var path = document.createElementNS(ns, "path");
    path.setAttribute("d", "M4 3h16a2 2 0 0 1 2 2v11a2 2 0 0 1-2 2H9l-5 4v-4H4a2 2 0 0 1-2-2V5a2 2 0 0 1 2-2z");
    svg.appendChild(path);
    return svg;
  }

  function Widget() {
    this.token = loadToken();
    this.resume = pageResume();
    this.conversationId = null;
    this.status = null;
    this.maxSeq = 0; // the highest seq shown
    this.readSeq = 0; // the highest seq shown while the panel was open
    this.bySeq = {}; // seq -> element: de-duplication
    this.pending = []; // shopper messages not yet echoed by the server: {clientId, text, node}
    this.outbox = []; // actions and emails typed while disconnected
    this.offers = []; // offer messages: {seq, buttons, clicked}
    this.socket = null;
    this.ready = false; // welcome received on the current socket
    this.attempt = 0;
    this.reconnectTimer = null;
    this.pingTimer = null;
    this.lastTyping = 0;
    this.unread = 0;
    this.mode = "text";
    this.storeName = null;
    this.build();
    if (PAGE) this.open();
    else if (this.token || this.resume) this.connect(); // a returning visitor: replies arrive with the panel closed
  }

  Widget.prototype.build = function () {
    var self = this;
    var host = el("div", { "data-frontdesk": "root" });
    this.host = host;
    var shadow = host.attachShadow ? host.attachShadow({ mode: "open" }) : host;
    var style = el("style");
    style.textContent = CSS;
    shadow.appendChild(style);
    var root = el("div", { class: PAGE ? "root page" : "root" });
    shadow.appendChild(root);
    this.applyColour(DEFAULT_COLOUR);

    var bubble = el("button", {
      type: "button",
      class: "bubble",
      "data-frontdesk": "bubble",
      "aria-expanded": "false",
      "aria-controls": "frontdesk-panel",
      "aria-label": "Chat",
    });
    bubble.appendChild(chatIcon());
    bubble.appendChild(el("span", { class: "bubble-text" }, "Chat"));
    this.badge = el("span", { class: "badge", "data-frontdesk": "unread", hidden: "" });
    bubble.appendChild(this.badge);
    bubble.addEventListener("click", function () { self.toggle(); });
    this.bubble = bubble;

    var panel = el("div", {
      id: "frontdesk-panel",
      class: "panel",
      role: PAGE ? "main" : "dialog",
      "aria-label": "Chat",
      "data-frontdesk": "panel",
      hidden: "",
    });
    this.panel = panel;

    var header = el("div", { class: "header" });
    this.title = el("h2", { class: "title", "data-frontdesk": "title" }, "Chat");
    var close = el("button", { type: "button", class: "close", "data-frontdesk": "close" });
    close.appendChild(el("span", { "aria-hidden": "true" }, "✕ "));
    close.appendChild(el("span", null, "Close"));
    close.setAttribute("aria-label", "Close chat");
    close.addEventListener("click", function () { self.close(); });
    this.mailButton = el("button", { type: "button", class: "close", "data-frontdesk": "email-transcript",
                                     "aria-label": "Email me this conversation", hidden: "" }, "Email");
    this.mailButton.addEventListener("click", function () { self.toggleMailForm(); });
    header.appendChild(this.title);
    header.appendChild(this.mailButton);
    header.appendChild(close);

    // "Email me this conversation": where to send the shopper's copy of the chat.
    this.mailForm = el("form", { class: "composer mail", "data-frontdesk": "transcript-form", novalidate: "",
                                 hidden: "" });
    var mailField = el("div", { class: "field" });
    mailField.appendChild(el("label", { for: "frontdesk-transcript-email" }, "Send this conversation to"));
    this.mailInput = el("input", { id: "frontdesk-transcript-email", type: "email", autocomplete: "email",
                                   placeholder: "you@example.com", "data-frontdesk": "transcript-email" });
    mailField.appendChild(this.mailInput);
    this.mailForm.appendChild(mailField);
    this.mailForm.appendChild(el("button", { type: "submit", class: "primary", "data-frontdesk": "transcript-send" },
                                 "Send"));
    this.mailForm.addEventListener("submit", function (event) {
      event.preventDefault();
      var frame = { type: "transcript" };
      var address = self.mailInput.value.trim();
      if (address) frame.email = address;
      if (!self.sendFrame(frame)) self.outbox.push(frame);
    });
    this.mailNote = el("p", { class: "mail-note", role: "status", "data-frontdesk": "transcript-note", hidden: "" });

    this.connection = el("div", { class: "connection", "data-frontdesk": "connection", role: "status", hidden: "" });

    this.log = el("div", {
      class: "log",
      role: "log",
      "aria-live": "polite",
      "aria-label": "Conversation",
      "data-frontdesk": "log",
    });
    this.greeting = el("div", {
      class: "msg",
      "data-frontdesk": "greeting",
      "data-author": "ai",
      "data-kind": "greeting",
      hidden: "",
    }); // the store's greeting: the first line of the log
    this.log.appendChild(this.greeting);

    this.typing = el("div", { class: "typing", "data-frontdesk": "typing", hidden: "" });
    this.notice = el("p", { class: "notice", "data-frontdesk": "notice", role: "alert", hidden: "" });

    // The closed conversation
    this.ended = el("div", { class: "ended", "data-frontdesk": "ended", hidden: "" });
    this.ended.appendChild(el("p", null, "This conversation has ended"));
    var restart = { type: "button", class: "primary", "data-frontdesk": "restart" };
    this.restart = el("button", restart, "Start a new conversation");
    this.restart.addEventListener("click", function () { self.startOver(); });
    this.ended.appendChild(this.restart);

    // The text composer
    this.form = el("form", { class: "composer", "data-frontdesk": "composer" });
    var field = el("div", { class: "field" });
    field.appendChild(el("label", { for: "frontdesk-input" }, "Your message"));
    this.input = el("textarea", {
      id: "frontdesk-input",
      rows: "1",
      autocomplete: "off",
      "data-frontdesk": "input",
      placeholder: "Ask a question…",
    });
    field.appendChild(this.input);
    this.form.appendChild(field);
    this.send = el("button", { type: "submit", class: "primary", "data-frontdesk": "send" }, "Send");
    this.form.appendChild(this.send);
    this.form.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submitText();
    });
    this.input.addEventListener("keydown", function (event) {
      if (event.key === "Enter" && !event.shiftKey && !event.isComposing) {
        event.preventDefault();
        self.submitText();
      }
    });
    this.input.addEventListener("input", function () { self.shopperTyping(); });

    // The email composer (while the status is needs_email)
    this.emailForm = el("form", { class: "composer", "data-frontdesk": "email-form", novalidate: "", hidden: "" });
    var emailField = el("div", { class: "field" });
    emailField.appendChild(el("label", { for: "frontdesk-email" }, "Your email address"));
    this.emailInput = el("input", {
      id: "frontdesk-email",
      type: "email",
      autocomplete: "email",
      inputmode: "email",
      "data-frontdesk": "email",
      placeholder: "you@example.com",
    });
    emailField.appendChild(this.emailInput);
    this.emailForm.appendChild(emailField);
    this.emailSend = el("button", { type: "submit", class: "primary", "data-frontdesk": "email-send" }, "Send");
    this.emailForm.appendChild(this.emailSend);
    this.emailForm.addEventListener("submit", function (event) {
      event.preventDefault();
      self.submitEmail();
    });

    [header, this.connection, this.log, this.typing, this.notice, this.mailNote, this.mailForm, this.ended, this.form,
     this.emailForm].forEach(
      function (node) { panel.appendChild(node); }
    );
    root.appendChild(panel);
    root.appendChild(bubble);
    root.addEventListener("keydown", function (event) {
      if (event.key === "Escape" && !self.panel.hidden && !PAGE) {
        event.stopPropagation();
        self.close();
      }
    });
    document.body.appendChild(host);
  };

  Widget.prototype.applyColour = function (value) {
    var rgb = parseColour(value) || parseColour(DEFAULT_COLOUR);
    var hex = "#" + rgb.map(function (c) { return (c + 256).toString(16).slice(1); }).join("");
    this.host.style.setProperty("--fd-colour", hex);
    this.host.style.setProperty("--fd-on-colour", readableOn(rgb));
  };

  // ---- Opening and closing ----
  Widget.prototype.toggle = function () {
    if (this.panel.hidden) this.open();
    else this.close();
  };

  Widget.prototype.open = function () {
    this.panel.hidden = false;
    this.bubble.setAttribute("aria-expanded", "true");
    this.bubble.hidden = !PAGE; // not under the open panel: its Close button (or Escape) closes it
    this.markRead();
    if (!this.socket) this.connect();
    this.scrollDown();
    this.focusComposer();
  };

  Widget.prototype.close = function () {
    this.panel.hidden = true;
    this.bubble.hidden = false;
    this.bubble.setAttribute("aria-expanded", "false");
    this.bubble.focus();
  };

  Widget.prototype.focusComposer = function () {
    if (this.panel.hidden) return;
    if (this.status === "closed") this.restart.focus();
    else if (this.mode === "email") this.emailInput.focus();
    else this.input.focus();
  };

  Widget.prototype.markRead = function () {
    this.unread = 0;
    this.updateBadge();
    if (this.maxSeq > this.readSeq) {
      this.readSeq = this.maxSeq;
      saveRead(this.conversationId, this.readSeq);
    }
  };

  Widget.prototype.updateBadge = function () {
    this.badge.hidden = this.unread === 0;
    this.badge.textContent = this.unread ? String(this.unread) : "";
    var name = this.storeName ? "Chat with " + this.storeName : "Chat";
    this.bubble.setAttribute("aria-label", this.unread ? name + " (" + this.unread + " new)" : name);
  };

  // ---- The connection ----
  Widget.prototype.connect = function () {
    var self = this;
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    var socket;
    try {
      socket = new WebSocket(wsUrl());
    } catch (e) {
      this.scheduleReconnect();
      return;
    }
    this.socket = socket;
    this.ready = false;
    this.showConnection(this.attempt ? "Reconnecting…" : "Connecting…");
    socket.onopen = function () {
      // A resume link names the conversation itself, and the server sends all of it: no token, no last_seq.
      var hello = self.resume
        ? { type: "hello", resume: self.resume }
        : { type: "hello", token: self.token, last_seq: self.maxSeq };
      var data = (script && script.dataset) || {};
      if (data.email) hello.email = data.email;
      if (data.userHash) hello.user_hash = data.userHash;
      if (data.name) hello.name = data.name;
      socket.send(JSON.stringify(hello));
    };
    socket.onmessage = function (event) {
      if (socket !== self.socket) return;
      var frame;
      try {
        frame = JSON.parse(event.data);
      } catch (e) {
        return;
      }
      if (frame && typeof frame === "object") self.receive(frame);
    };
    socket.onclose = function () {
      if (socket !== self.socket) return; // an old socket replaced on purpose
      self.socket = null;
      self.ready = false;
      clearInterval(self.pingTimer);
      self.scheduleReconnect();
    };
  };

  Widget.prototype.scheduleReconnect = function () {
    var self = this;
    var delay = Math.min(MAX_BACKOFF, 1000 * Math.pow(2, this.attempt));
    this.attempt += 1;
    this.showConnection("Connection lost — reconnecting…");
    clearTimeout(this.reconnectTimer);
    this.reconnectTimer = setTimeout(function () { self.connect(); }, delay);
  };

  Widget.prototype.showConnection = function (text) {
    this.connection.hidden = !text;
    this.connection.textContent = text || "";
  };

  Widget.prototype.sendFrame = function (frame) {
    if (!this.socket || !this.ready || this.socket.readyState !== WebSocket.OPEN) return false;
    this.socket.send(JSON.stringify(frame));
    this.lastSent = frame.type;
    return true;
  };

  Widget.prototype.flush = function () {
    var self = this;
    this.pending.forEach(function (item) {
      if (!item.failed) self.sendFrame({ type: "message", text: item.text, client_id: item.clientId });
    });
    while (this.outbox.length && this.sendFrame(this.outbox[0])) this.outbox.shift();
  };

  // ---- Frames from the server ----
  Widget.prototype.receive = function (frame) {
    switch (frame.type) {
      case "welcome":
        return this.welcome(frame);
      case "message":
        return this.message(frame);
      case "status":
        return this.setStatus(frame.status);
      case "typing":
        return this.showTyping(frame.author, frame.name);
      case "error":
        return this.error(frame);
      case "rating":
        return this.showRating(Number(frame.seq), String(frame.rating));
      case "csat":
        return this.showCsat(Number(frame.score));
      case "transcript":
        return this.transcriptSent(frame.email);
      default:
        return undefined; // pong and anything newer
    }
  };

  Widget.prototype.welcome = function (frame) {
    var self = this;
    if (this.conversationId && frame.conversation_id !== this.conversationId) {
      this.resetTranscript(true); // another conversation (the token was unknown): what was typed goes to it
    }
    this.conversationId = frame.conversation_id;
    this.readSeq = Math.max(this.readSeq, loadRead(this.conversationId));
    this.host.setAttribute("data-conversation", String(frame.conversation_id || ""));
    this.token = frame.token;
    saveToken(frame.token);
    if (this.resume) {
      this.resume = null;
      forgetResume();
    }
    this.ready = true;
    this.attempt = 0;
    this.showConnection("");
    var store = frame.store || {};
    if (store.name) {
      this.storeName = String(store.name);
      this.title.textContent = this.storeName;
      this.panel.setAttribute("aria-label", "Chat with " + this.storeName);
      this.updateBadge();
    }
    this.applyColour(store.colour);
    if (store.greeting) {
      this.greeting.textContent = String(store.greeting);
      this.greeting.hidden = false;
    }
    this.mailButton.hidden = !frame.email_transcript; // only where the store sends email
    this.setStatus(frame.status);
    clearInterval(this.pingTimer);
    this.pingTimer = setInterval(function () { self.sendFrame({ type: "ping" }); }, PING_MS);
    this.flush();
  };

  Widget.prototype.resetTranscript = function (keepPending) {
    var self = this;
    Object.keys(this.bySeq).forEach(function (seq) { self.bySeq[seq].remove(); });
    this.bySeq = {};
    if (!keepPending) {
      this.pending.forEach(function (item) { item.node.remove(); });
      this.pending = [];
    }
    this.outbox = []; // actions and emails were for the old conversation
    this.offers = [];
    this.maxSeq = 0;
    this.readSeq = 0;
    this.unread = 0;
    this.updateBadge();
    this.status = null;
  };

  Widget.prototype.message = function (frame) {
    var seq = Number(frame.seq);
    if (!seq || this.bySeq[seq]) return; // already shown
    var node = null;
    if (frame.client_id) {
      for (var i = 0; i < this.pending.length; i++) {
        if (this.pending[i].clientId === frame.client_id) {
          node = this.pending[i].node; // our own message, echoed: now stored
          this.pending.splice(i, 1);
          node.removeAttribute("data-pending");
          var failed = node.querySelector(".failed");
          if (failed) failed.remove();
          break;
        }
      }
    }
    if (!node) node = this.renderMessage(frame);
    node.setAttribute("data-seq", String(seq));
    if (frame.at) node.setAttribute("data-at", String(frame.at));
    this.bySeq[seq] = node;
    this.place(node, seq);
    this.maxSeq = Math.max(this.maxSeq, seq);
    if (frame.kind === "offer") {
      this.offers.push({ seq: seq, buttons: Array.prototype.slice.call(node.querySelectorAll("button")), clicked: false });
      this.refreshOffers();
    }
    if (this.pendingCsat) {
      this.showCsat(this.pendingCsat);
      this.pendingCsat = null;
    }
    if (frame.kind === "email_request" && (this.status === "offered" || this.status === "needs_email")) {
      this.setMode("email");
    }
    if (frame.author === "ai" || frame.author === "agent") this.typing.hidden = true;
    if (!this.panel.hidden) this.markRead();
    else if (frame.author !== "shopper" && seq > this.readSeq) {
      this.unread += 1; // a reply that came while the panel was closed
      this.updateBadge();
    }
    this.scrollDown();
  };

  Widget.prototype.place = function (node, seq) {
    // Stored messages in seq order, then the shopper's messages still on their way.
    var children = this.log.children;
    for (var i = 0; i < children.length; i++) {
      var child = children[i];
      if (child === node || child === this.greeting) continue;
      var other = Number(child.getAttribute("data-seq"));
      if (child.getAttribute("data-pending") === "true" || (other && other > seq)) {
        this.log.insertBefore(node, child);
        return;
      }
    }
    this.log.appendChild(node);
  };

  Widget.prototype.renderMessage = function (frame) {
    var self = this;
    var author = LABELS.hasOwnProperty(frame.author) ? frame.author : "system";
    var kind = String(frame.kind || "text");
    var node = el("div", { class: "msg", "data-frontdesk": "message", "data-author": author, "data-kind": kind });
    var agentName = author === "agent" && typeof frame.agent === "string" && frame.agent ? frame.agent : null;
    var spoken = agentName ? agentName + " (our team)" : LABELS[author];
    if (spoken) node.appendChild(el("span", { class: "sr" }, spoken + ": "));
    if (author === "agent") {
      var who = el("span", { class: "who", "aria-hidden": "true" });
      who.appendChild(el("span", { class: "avatar", "data-frontdesk": "avatar" }, initials(agentName || "Team")));
      who.appendChild(el("span", { class: "who-name" }, agentName || "Our team"));
      node.appendChild(who);
    }
    var body = el("span", { class: "text", "data-frontdesk": "text" });
    if (kind === "custom") renderRich(String(frame.text || ""), body);
    else body.textContent = String(frame.text || "");
    var card = frame.card && typeof frame.card === "object" ? frame.card : null;
    if (card) node.appendChild(this.productCard(card, body));
    else node.appendChild(body);
    var source = safeLink(frame.source);
    if (source) {
      var cite = el("span", { class: "source", "data-frontdesk": "source" });
      cite.appendChild(el("a", { href: source, target: "_blank", rel: "noopener noreferrer" }, "Source"));
      node.appendChild(cite);
    }
    if (kind === "offer" && Array.isArray(frame.actions) && frame.actions.length) {
      var actions = el("div", { class: "actions", "data-frontdesk": "actions" });
      var seq = Number(frame.seq);
      frame.actions.forEach(function (action) {
        var button = el("button", {
          type: "button",
          class: "action",
          "data-frontdesk": "action",
          "data-action": String(action.id),
          disabled: "",
        }, String(action.label || action.id));
        button.addEventListener("click", function () { self.clickAction(seq, String(action.id)); });
        actions.appendChild(button);
      });
      node.appendChild(actions);
    }
    if (kind === "csat" && Array.isArray(frame.actions)) {
      node.appendChild(this.csatButtons(frame.actions));
      if (frame.score) this.pendingCsat = Number(frame.score); // shown once the node is in the log
    }
    if (frame.rateable) node.appendChild(this.ratingButtons(Number(frame.seq), frame.rating));
    return node;
  };

  // The one-tap rating of the team, asked when the team closed the conversation: csat_1 (very poor) to csat_5.
  Widget.prototype.csatButtons = function (actions) {
    var self = this;
    var group = el("div", { class: "actions", role: "group", "aria-label": "Rate the help you got",
                            "data-frontdesk": "csat" });
    actions.forEach(function (action) {
      var score = Number(String(action.id).replace("csat_", ""));
      if (!(score >= 1 && score <= 5)) return;
      var button = el("button", { type: "button", class: "action", "data-score": String(score),
                                  "aria-pressed": "false" }, String(action.label || score));
      button.addEventListener("click", function () {
        self.showCsat(score);
        var frame = { type: "csat", score: score };
        if (!self.sendFrame(frame)) self.outbox.push(frame);
      });
      group.appendChild(button);
    });
    this.csatGroup = group;
    return group;
  };

  Widget.prototype.showCsat = function (score) {
    if (!this.csatGroup) return;
    Array.prototype.forEach.call(this.csatGroup.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-pressed", String(Number(button.getAttribute("data-score")) === score));
    });
    var thanks = this.csatGroup.parentNode && this.csatGroup.parentNode.querySelector("[data-frontdesk='csat-thanks']");
    if (!thanks && this.csatGroup.parentNode) {
      thanks = el("span", { class: "source", "data-frontdesk": "csat-thanks" }, "Thank you for your rating!");
      this.csatGroup.parentNode.appendChild(thanks);
    }
  };

  // A product the assistant answered with: its name, price, availability, a line of description and its page. The
  // answer's plain text (what a transcript or a text message says) stays for screen readers.
  Widget.prototype.productCard = function (card, text) {
    var box = el("div", { class: "card", "data-frontdesk": "card" });
    text.className = "sr";
    box.appendChild(text);
    box.appendChild(el("strong", { class: "card-title", "aria-hidden": "true" }, String(card.title || "")));
    var facts = [card.price, card.availability].filter(function (fact) { return typeof fact === "string" && fact; });
    if (facts.length) box.appendChild(el("span", { class: "card-facts", "aria-hidden": "true" }, facts.join(" · ")));
    if (card.description) {
      box.appendChild(el("span", { class: "card-description", "aria-hidden": "true" }, String(card.description)));
    }
    var url = safeLink(card.url);
    if (url) {
      box.appendChild(el("a", { class: "card-button", href: url, target: "_blank", rel: "noopener noreferrer",
                                "data-frontdesk": "card-link" }, "View product"));
    }
    return box;
  };

  // 👍 / 👎 under an answer of the assistant: "didn't help" tells the store the answer did not resolve the question.
  Widget.prototype.ratingButtons = function (seq, rating) {
    var self = this;
    var group = el("div", { class: "rating", role: "group", "aria-label": "Was this answer helpful?",
                            "data-frontdesk": "rating" });
    [["helpful", "This helped"], ["not_helpful", "This didn't help"]].forEach(
      function (choice) {
        var button = el("button", { type: "button", class: "rate", "data-rating": choice[0],
                                    "aria-label": choice[1], title: choice[1], "aria-pressed": "false" });
        button.appendChild(thumbIcon(choice[0] === "not_helpful"));
        button.addEventListener("click", function () {
          self.showRating(seq, choice[0]);
          var frame = { type: "feedback", seq: seq, rating: choice[0] };
          if (!self.sendFrame(frame)) self.outbox.push(frame);
        });
        group.appendChild(button);
      }
    );
    this.markRating(group, rating);
    return group;
  };

  Widget.prototype.showRating = function (seq, rating) {
    var node = this.bySeq[seq];
    var group = node && node.querySelector("[data-frontdesk='rating']");
    if (group) this.markRating(group, rating);
  };

  Widget.prototype.markRating = function (group, rating) {
    Array.prototype.forEach.call(group.querySelectorAll("button"), function (button) {
      button.setAttribute("aria-pressed", String(button.getAttribute("data-rating") === rating));
    });
  };

  Widget.prototype.refreshOffers = function () {
    var latest = this.offers.reduce(function (max, offer) { return Math.max(max, offer.seq); }, 0);
    var status = this.status;
    this.offers.forEach(function (offer) {
      var live = status === "offered" && offer.seq === latest && !offer.clicked;
      offer.buttons.forEach(function (button) { button.disabled = !live; });
    });
  };

  Widget.prototype.clickAction = function (seq, action) {
    var offer = this.offers.filter(function (o) { return o.seq === seq; })[0];
    if (!offer || offer.clicked || this.status !== "offered") return; // a double click sends once
    offer.clicked = true;
    this.refreshOffers();
    var frame = { type: "action", action: action };
    if (!this.sendFrame(frame)) this.outbox.push(frame);
    this.focusComposer();
  };

  Widget.prototype.setStatus = function (status) {
    if (typeof status !== "string") return;
    this.status = status;
    this.panel.setAttribute("data-status", status);
    this.refreshOffers();
    var closed = status === "closed";
    this.ended.hidden = !closed;
    if (closed) {
      this.form.hidden = true;
      this.emailForm.hidden = true;
      this.typing.hidden = true;
      if (this.focusIsOurs()) this.restart.focus();
      return;
    }
    // Who reads what the shopper writes: a person once the team has the conversation, the assistant before.
    var team = status === "with_team" || status === "handing_off";
    this.input.setAttribute("placeholder", team ? "Message our team…" : "Ask a question…");
    this.setMode(status === "needs_email" ? "email" : "text");
  };

  Widget.prototype.focusIsOurs = function () {
    // Focus may move inside an open panel only when it is there already, or nowhere (never away from the page).
    if (this.panel.hidden) return false;
    var active = (this.host.shadowRoot || document).activeElement;
    if (active && this.panel.contains(active)) return true;
    return !document.activeElement || document.activeElement === document.body;
  };

  Widget.prototype.setMode = function (mode) {
    var changed = mode !== this.mode || this.form.hidden === this.emailForm.hidden;
    this.mode = mode;
    this.form.hidden = mode !== "text";
    this.emailForm.hidden = mode !== "email";
    this.ended.hidden = this.status !== "closed";
    if (changed && this.focusIsOurs()) this.focusComposer();
  };

  Widget.prototype.toggleMailForm = function () {
    this.mailForm.hidden = !this.mailForm.hidden;
    this.mailNote.hidden = true;
    var data = (script && script.dataset) || {};
    if (!this.mailForm.hidden) {
      if (!this.mailInput.value && data.email) this.mailInput.value = data.email;
      this.mailInput.focus();
    }
  };

  Widget.prototype.transcriptSent = function (email) {
    this.mailForm.hidden = true;
    this.mailNote.textContent = "We've emailed this conversation to " + String(email || "you") + ".";
    this.mailNote.hidden = false;
  };

  Widget.prototype.showTyping = function (author, name) {
    var self = this;
    var who = author === "agent" ? (typeof name === "string" && name ? name : "Our team") : "The assistant";
    this.typing.textContent = who + " is typing…";
    this.typing.hidden = false;
    clearTimeout(this.typingTimer);
    this.typingTimer = setTimeout(function () { self.typing.hidden = true; }, 5000);
  };

  Widget.prototype.error = function (frame) {
    var code = String(frame.code || "");
    if (code === "unknown_token") {
      this.token = null;
      saveToken(null); // the welcome that follows starts a new conversation
    }
    if (code === "bad_resume_link") {
      this.resume = null; // neither a reconnect nor a reload may try it again
      forgetResume();
    }
    // Refused, so not stored: the last message sent (errors carry no client_id; its echo would undo this).
    if ((code === "rate_limited" || code === "too_long") && this.lastSent === "message") this.markLatestFailed();
    var text = ERROR_TEXT[code] || String(frame.message || "Something went wrong.");
    if (code === "invalid_email" && frame.message) text = "That email address doesn't look right: " + frame.message;
    this.showNotice(text, code);
  };

  Widget.prototype.showNotice = function (text, code) {
    var self = this;
    this.notice.textContent = text;
    this.notice.setAttribute("data-code", code || "");
    this.notice.hidden = false;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(function () { self.notice.hidden = true; }, 10000);
  };

  // ---- What the shopper does ----
  Widget.prototype.submitText = function () {
    var text = this.input.value.trim();
    if (!text) return;
    if (Array.from(text).length > MAX_CHARS) {
      this.showNotice(ERROR_TEXT.too_long, "too_long");
      return;
    }
    this.notice.hidden = true;
    var item = { clientId: randomId(), text: text, node: null, failed: false };
    item.node = this.renderMessage({ author: "shopper", kind: "text", text: text });
    item.node.setAttribute("data-pending", "true");
    item.node.setAttribute("data-client-id", item.clientId);
    this.pending.push(item);
    this.log.appendChild(item.node);
    this.input.value = "";
    this.scrollDown();
    this.sendFrame({ type: "message", text: text, client_id: item.clientId });
  };

  Widget.prototype.markLatestFailed = function () {
    var self = this;
    var item = this.pending[this.pending.length - 1];
    if (!item || item.failed) return;
    item.failed = true; // not stored: the shopper may retry (same client_id, so never twice)
    var failed = el("span", { class: "failed", "data-frontdesk": "failed" }, "Not sent.");
    var retry = el("button", { type: "button", "data-frontdesk": "retry" }, "Retry");
    retry.addEventListener("click", function () {
      item.failed = false;
      failed.remove();
      self.sendFrame({ type: "message", text: item.text, client_id: item.clientId });
      self.focusComposer();
    });
    failed.appendChild(retry);
    item.node.appendChild(failed);
  };

  Widget.prototype.submitEmail = function () {
    var email = this.emailInput.value.trim();
    if (!email) {
      this.showNotice("Please enter your email address.", "invalid_email");
      return;
    }
    this.notice.hidden = true;
    this.emailInput.value = "";
    var frame = { type: "email", email: email };
    if (!this.sendFrame(frame)) this.outbox.push(frame);
  };

  Widget.prototype.shopperTyping = function () {
    var now = Date.now();
    if (now - this.lastTyping < TYPING_MS) return;
    if (this.status !== "with_team" && this.status !== "handing_off") return; // only people read it
    this.lastTyping = now;
    this.sendFrame({ type: "typing" });
  };

  Widget.prototype.startOver = function () {
    this.token = null;
    saveToken(null);
    this.conversationId = null;
    this.resetTranscript();
    this.greeting.hidden = true;
    var old = this.socket;
    this.socket = null;
    this.attempt = 0;
    if (old) old.close();
    this.connect();
    this.ended.hidden = true;
    this.setMode("text");
    this.input.focus();
  };

  Widget.prototype.scrollDown = function () {
    this.log.scrollTop = this.log.scrollHeight;
  };

  function start() {
    window.frontdeskWidget = new Widget();
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", start);
  else start();
})();
