// The custom message's Markdown subset — [text](url), **bold**, *italic*, line breaks — turned into DOM nodes, never
// HTML: only http, https and mailto links become links. One source for the two places a shopper's view of it is drawn:
// the widget (frontdesk/channels/webchat/views.py puts this file inside /widget.js, in the widget's own scope) and
// the console's live preview (/static/rich-text.js). ES5, as the widget is.
// The server reads the same subset with frontdesk/rich_text.py; tests/rich_text_cases.json holds both to one answer.
// A link's address may hold one level of balanced parentheses (Wikipedia's); the server's sanitiser writes any other
// address so. Bold and italic need no space inside their marks, as in CommonMark.
var RICH_INLINE =
  /\[([^\]\n]+)\]\(((?:[^()\s]|\([^()\s]*\))+)\)|\*\*(\S(?:.*?\S)?)\*\*|\*([^*\s](?:[^*]*?[^*\s])?)\*/;

function richSafeUrl(raw) {
  try {
    var url = new URL(raw); // absolute URLs only
    return ["http:", "https:", "mailto:"].indexOf(url.protocol) >= 0 ? url.href : null;
  } catch (e) {
    return null;
  }
}

function richInline(text, parent, links) {
  while (text) {
    var m = RICH_INLINE.exec(text);
    if (!m) {
      parent.appendChild(document.createTextNode(text));
      return;
    }
    if (m.index) parent.appendChild(document.createTextNode(text.slice(0, m.index)));
    if (m[1] !== undefined) {
      var href = links ? richSafeUrl(m[2]) : null;
      if (href) {
        var a = document.createElement("a");
        a.setAttribute("href", href);
        a.setAttribute("target", "_blank");
        a.setAttribute("rel", "noopener noreferrer");
        richInline(m[1], a, false);
        parent.appendChild(a);
      } else {
        richInline(m[1], parent, false); // not a safe link: its label as text
      }
    } else if (m[3] !== undefined) {
      var strong = document.createElement("strong");
      richInline(m[3], strong, links);
      parent.appendChild(strong);
    } else {
      var em = document.createElement("em");
      richInline(m[4], em, links);
      parent.appendChild(em);
    }
    text = text.slice(m.index + m[0].length);
  }
}

function renderRich(text, parent) {
  String(text).split(/\r\n|\r|\n/).forEach(function (line, i) {
    if (i) parent.appendChild(document.createElement("br"));
    richInline(line, parent, true);
  });
}
