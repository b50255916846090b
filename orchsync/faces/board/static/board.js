/* orchsync board: drag and drop, a keyboard menu for moving cards, inline edits, dialogs and
   live updates. Plain JavaScript, no build step, no inline script (the CSP forbids it).

   The server renders every page; this file only (1) sends writes to /api/... with the page's
   CSRF token and the content hash the page showed, and (2) when the server says something
   changed (the /live event stream), fetches the page's main block again and swaps it in,
   moving cards with a short animation and highlighting new activity rows. Text from tasks is
   only ever inserted as server-escaped HTML or with textContent. */
(function () {
  "use strict";

  var $ = function (sel, root) { return (root || document).querySelector(sel); };
  var $$ = function (sel, root) { return Array.prototype.slice.call((root || document).querySelectorAll(sel)); };
  var csrf = function () { var m = $('meta[name="csrf-token"]'); return m ? m.content : ""; };

  // --- messages ------------------------------------------------------------------------------
  function toast(text, kind) {
    var box = $("#toasts");
    if (!box || !text) return;
    var el = document.createElement("div");
    el.className = "toast " + (kind || "");
    el.textContent = text;
    box.appendChild(el);
    setTimeout(function () { el.remove(); }, kind === "bad" ? 9000 : 5000);
  }

  function api(url, body) {
    return fetch(url, {
      method: "POST",
      credentials: "same-origin",
      headers: { "Content-Type": "application/json", "X-CSRF-Token": csrf() },
      body: JSON.stringify(body),
    }).then(function (res) {
      return res.json().catch(function () { return {}; }).then(function (data) {
        return { ok: res.ok, status: res.status, data: data };
      });
    }, function () {
      return { ok: false, status: 0, data: { error: "the board server cannot be reached" } };
    });
  }

  /* One answer to every write: say what happened, then show the truth from the server. */
  function settle(r, done) {
    if (r.ok) toast(r.data.message || done || "saved", "ok");
    else if (r.status === 409) toast("It changed since this page showed it, so nothing was written. Showing the newer version.", "warn");
    else toast(r.data.error || "the write failed (" + r.status + ")", "bad");
    return refresh(true).then(function () { return r; });
  }

  // --- live updates -----------------------------------------------------------------------------
  var inflight = null, again = false, dragging = null, deferred = false;

  function editing() {
    if ($("dialog[open]")) return true;
    var form = $("[data-title-form]");
    if (form && !form.hidden) return true;
    var a = document.activeElement;
    if (!a || !$("#main").contains(a)) return false;
    if (a.tagName === "TEXTAREA") return true;
    return a.tagName === "INPUT" && !/^(checkbox|radio|button|submit)$/.test(a.type) && !a.closest("[data-filters]");
  }

  function refresh(force) {
    if (inflight) { again = true; return inflight; }
    if (dragging || (!force && editing())) { deferred = true; return Promise.resolve(); }
    inflight = fetch(location.href, { credentials: "same-origin", headers: { "X-Board-Partial": "1" } })
      .then(function (res) { return res.ok ? res.text() : null; })
      .then(function (html) { if (html !== null) apply(html); })
      .catch(function () { /* the stream reconnects and asks again */ })
      .then(function () {
        inflight = null;
        if (again) { again = false; return refresh(force); }
      });
    return inflight;
  }

  function apply(html) {
    var t = document.createElement("template");
    t.innerHTML = html;
    var fresh = t.content.querySelector(".page");
    var page = $("#main .page");
    if (!fresh || !page) return;
    if (page.dataset.page === "board" && fresh.dataset.page === "board" && page.dataset.sprint === fresh.dataset.sprint) {
      morphBoard(page, fresh);
    } else if (page.dataset.page === "activity" && fresh.dataset.page === "activity") {
      morphRows(page, fresh);
    } else if (editing()) {
      deferred = true;  // someone started typing while it loaded: apply it when they are done
    } else {
      var focus = focusKey(document.activeElement);
      keepOpen(page, fresh);
      page.replaceWith(fresh);
      restoreFocus(focus);
      loadOpenPreviews(fresh);
    }
  }

  /* Open <details> stay open across a refresh (matched by their data-keep value); the AGENT
     INIT preview keeps what it loaded. A twin is opened inside the parsed template, where
     Chromium queues no `toggle` for it, and the old one may be opened and detached before its
     own `toggle` runs: so after the swap, `loadOpenPreviews` starts any load nobody started. */
  function keepOpen(page, fresh) {
    $$("details[open][data-keep]", page).forEach(function (d) {
      var twin = $('details[data-keep="' + cssEscape(d.dataset.keep) + '"]', fresh);
      if (!twin) return;
      if (d.dataset.loaded) twin.dataset.loaded = d.dataset.loaded;
      var target = $("[data-agent-init-text]", twin), code = twin.dataset.agentInit;
      if (target && code && agentInit[code] !== undefined) target.textContent = agentInit[code];
      twin.open = true;
    });
  }

  function focusKey(el) {
    if (!el || !el.closest || !el.closest("#main")) return null;
    var keyed = el.closest("[data-field],[data-check],[data-code]");
    if (!keyed) return null;
    if (keyed.hasAttribute("data-field")) return '[data-field="' + keyed.dataset.field + '"]';
    if (keyed.hasAttribute("data-check")) return '[data-check][data-section="' + keyed.dataset.section + '"][data-index="' + keyed.dataset.index + '"]';
    return null;
  }

  function restoreFocus(sel) {
    if (!sel) return;
    var el = $("#main " + sel);
    if (el) el.focus({ preventScroll: true });
  }

  /* Cards keep their identity (data-code): remember where each one was, swap the columns in,
     then slide every card that moved from its old place to its new one (FLIP). */
  function morphBoard(page, fresh) {
    var before = {}, hashes = {};
    $$(".card", page).forEach(function (c) { before[c.dataset.code] = c.getBoundingClientRect(); hashes[c.dataset.code] = c.dataset.hash; });
    var focused = document.activeElement && document.activeElement.closest && document.activeElement.closest(".card");
    var focusCode = focused ? focused.dataset.code : null;
    var focusMenu = document.activeElement && document.activeElement.classList.contains("card-menu-btn");
    ["#columns", ".page-head"].forEach(function (sel) {
      var a = $(sel, page), b = $(sel, fresh);
      if (a && b) a.replaceWith(b);
      else if (b && !a) page.appendChild(b);
    });
    var shownNew = $("[data-shown]", fresh), shownOld = $("[data-shown]", page);
    if (shownNew && shownOld) shownOld.replaceWith(shownNew);
    filterCards();
    $$(".card", page).forEach(function (c) {
      var old = before[c.dataset.code];
      if (!old) { c.classList.add("flash"); return; }
      if (hashes[c.dataset.code] !== c.dataset.hash) c.classList.add("flash");
      var now = c.getBoundingClientRect();
      var dx = old.left - now.left, dy = old.top - now.top;
      if (dx || dy) {
        c.style.transform = "translate(" + dx + "px," + dy + "px)";
        c.style.transition = "none";
        requestAnimationFrame(function () {
          c.style.transition = "transform 0.35s cubic-bezier(.2,.7,.2,1)";
          c.style.transform = "";
        });
      }
    });
    if (focusCode) {
      var card = $('.card[data-code="' + cssEscape(focusCode) + '"]', page);
      var target = card && (focusMenu ? $(".card-menu-btn", card) : card);
      if (target) target.focus({ preventScroll: true });
    }
  }

  function morphRows(page, fresh) {
    var seen = {};
    $$("tr[data-id]", page).forEach(function (r) { seen[r.dataset.id] = true; });
    var any = Object.keys(seen).length > 0;
    $$("tr[data-id]", fresh).forEach(function (r) { if (any && !seen[r.dataset.id]) r.classList.add("fresh"); });
    var a = $("[data-rows]", page), b = $("[data-rows]", fresh);
    if (a && b) a.replaceWith(b); else page.replaceWith(fresh);
  }

  function cssEscape(s) { return window.CSS && CSS.escape ? CSS.escape(s) : s.replace(/["\\]/g, "\\$&"); }

  function connect() {
    var live = $("[data-live]");
    if (!window.EventSource) return;
    var tip = null;
    var es = new EventSource("/live");
    var set = function (state, text) { if (live) { live.dataset.live = state; $(".live-text", live).textContent = text; } };
    es.addEventListener("hello", function (e) {
      set("on", "live");
      var data = JSON.parse(e.data);
      if (tip !== null && data.tip !== tip) refresh();  // reconnected after missing a commit
      tip = data.tip;
    });
    var timer = null;
    es.addEventListener("change", function (e) {
      tip = JSON.parse(e.data).tip;
      clearTimeout(timer);
      timer = setTimeout(function () { refresh().then(times); feed(); }, 60);
    });
    es.onerror = function () { set("off", "reconnecting…"); };
  }

  // --- the sidebar's live activity, and "5m ago" times ------------------------------------------------
  var AGO = [[60, "s", 1], [3600, "m", 60], [86400, "h", 3600], [2592000, "d", 86400]];
  function ago(iso) {
    var t = Date.parse(iso);
    if (isNaN(t)) return null;
    var s = Math.max(0, (Date.now() - t) / 1000);
    if (s < 45) return "just now";
    for (var i = 0; i < AGO.length; i++) if (s < AGO[i][0]) return Math.floor(s / AGO[i][2]) + AGO[i][1] + " ago";
    return iso.slice(0, 10);
  }
  function times() {
    $$("time.ago[datetime]").forEach(function (el) { var a = ago(el.getAttribute("datetime")); if (a) el.textContent = a; });
  }

  var feedSeen = null;
  function feed() {
    var list = $("[data-feed]");
    if (!list) return Promise.resolve();
    return fetch("/activity.json?limit=8", { credentials: "same-origin" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (d) {
        if (!d) return;
        var seen = {}, items = [];
        d.events.forEach(function (e) {
          seen[e.id] = true;
          var li = document.createElement("li");
          if (feedSeen && !feedSeen[e.id]) li.className = "fresh";
          var top = document.createElement(e.entity_url && e.entity_url.charAt(0) === "/" ? "a" : "span");
          if (top.tagName === "A") top.href = e.entity_url;
          top.className = "feed-key";
          top.textContent = e.entity_key || e.path || "";
          top.title = top.textContent;
          var what = document.createElement("span");
          what.className = "feed-what";
          what.textContent = e.summary || "";
          what.title = e.summary || "";
          var meta = document.createElement("div");
          meta.className = "feed-meta";
          var type = document.createElement("span");
          type.className = "etype etype-" + e.type.split(".").pop();
          type.textContent = e.type.split(".").pop().replace("_", " ");
          var who = document.createElement("span");
          who.textContent = e.agent ? "@" + e.agent : "";
          var when = document.createElement("time");
          when.className = "ago";
          when.setAttribute("datetime", e.time + "Z");
          meta.append(type, who, when);
          li.append(top, what, meta);
          items.push(li);
        });
        feedSeen = seen;
        list.replaceChildren.apply(list, items);
        times();
      })
      .catch(function () { /* the next change asks again */ });
  }

  // --- board: filters -------------------------------------------------------------------------------
  function filterCards() {
    var form = $("[data-filters]");
    if (!form) return;
    var agent = (form.elements.agent || {}).value || "";
    var prio = (form.elements.priority || {}).value || "";
    var q = ((form.elements.q || {}).value || "").trim().toLowerCase();
    var shown = 0, total = 0;
    $$(".column").forEach(function (col) {
      var n = 0;
      $$(".card", col).forEach(function (c) {
        total++;
        var ok = (!agent || c.dataset.agent === agent) && (!prio || c.dataset.priority === prio) &&
          (!q || c.dataset.search.indexOf(q) >= 0);
        c.hidden = !ok;
        if (ok) { n++; shown++; }
      });
      var pill = $("[data-count]", col);
      if (pill) pill.textContent = n;
    });
    var out = $("[data-shown]");
    if (out) out.textContent = shown + " of " + (Number(out.dataset.total) || total) + " tasks";
  }

  function syncUrl() {
    var form = $("[data-filters]");
    if (!form) return;
    var params = new URLSearchParams(location.search);
    ["agent", "priority", "q"].forEach(function (k) {
      var el = form.elements[k];
      if (el && el.value) params.set(k, el.value); else params.delete(k);
    });
    var qs = params.toString();
    history.replaceState(null, "", location.pathname + (qs ? "?" + qs : ""));
  }

  /* Cards hidden at once as you type; then the server's answer for the new filters (a
     filter made wider brings back cards the page did not have). */
  var refilterTimer = null;
  function refilter() {
    clearTimeout(refilterTimer);
    refilterTimer = setTimeout(function () { refresh(true); }, 250);
  }

  // --- board: moving cards ----------------------------------------------------------------------
  function moveCard(code, status) {
    var card = $('.card[data-code="' + cssEscape(code) + '"]');
    if (!card || card.dataset.cardStatus === status) return Promise.resolve();
    var target = $('.column[data-status="' + cssEscape(status) + '"] .cards');
    if (target) target.appendChild(card);  // shown at once; the refresh below brings the truth
    card.classList.add("pending-write");
    filterCards();
    return api("/api/task/" + encodeURIComponent(code) + "/status", { status: status, hash: card.dataset.hash })
      .then(function (r) { return settle(r, code + " → " + status); });
  }

  function closeMenus(except) {
    $$(".card .menu").forEach(function (m) {
      if (m === except) return;
      m.hidden = true;
      var b = $(".card-menu-btn", m.closest(".card"));
      if (b) b.setAttribute("aria-expanded", "false");
    });
  }

  function openMenu(btn) {
    var menu = $(".menu", btn.closest(".card"));
    closeMenus(menu);
    var open = menu.hidden;
    menu.hidden = !open;
    btn.setAttribute("aria-expanded", String(open));
    if (open) { var first = $("button:not([disabled])", menu); if (first) first.focus(); }
  }

  document.addEventListener("keydown", function (e) {
    var menu = e.target.closest && e.target.closest(".menu");
    if (menu) {
      var items = $$("button:not([disabled])", menu);
      var i = items.indexOf(e.target);
      if (e.key === "ArrowDown" || e.key === "ArrowUp") {
        e.preventDefault();
        var next = items[(i + (e.key === "ArrowDown" ? 1 : -1) + items.length) % items.length];
        if (next) next.focus();
      } else if (e.key === "Escape" || e.key === "Tab") {
        var btn = $(".card-menu-btn", menu.closest(".card"));
        closeMenus();
        if (e.key === "Escape") { e.preventDefault(); btn.focus(); }
      }
      return;
    }
    if (e.key === "/" && !/^(INPUT|TEXTAREA|SELECT)$/.test(document.activeElement.tagName)) {
      var s = $("#global-search");
      if (s) { e.preventDefault(); s.focus(); }
    }
  });

  document.addEventListener("dragstart", function (e) {
    var card = e.target.closest && e.target.closest(".card");
    if (!card) return;
    dragging = card;
    card.classList.add("dragging");
    e.dataTransfer.effectAllowed = "move";
    e.dataTransfer.setData("text/plain", card.dataset.code);
  });
  document.addEventListener("dragend", function () {
    if (dragging) dragging.classList.remove("dragging");
    dragging = null;
    $$(".column.drop-target").forEach(function (c) { c.classList.remove("drop-target"); });
    if (deferred) { deferred = false; refresh(); }
  });
  document.addEventListener("dragover", function (e) {
    var col = e.target.closest && e.target.closest(".column");
    if (!col || !dragging) return;
    e.preventDefault();
    e.dataTransfer.dropEffect = "move";
    $$(".column.drop-target").forEach(function (c) { if (c !== col) c.classList.remove("drop-target"); });
    col.classList.add("drop-target");
  });
  document.addEventListener("drop", function (e) {
    var col = e.target.closest && e.target.closest(".column");
    if (!col) return;
    e.preventDefault();
    col.classList.remove("drop-target");
    var code = e.dataTransfer.getData("text/plain") || (dragging && dragging.dataset.code);
    if (dragging) dragging.classList.remove("dragging");
    dragging = null;
    if (code) moveCard(code, col.dataset.status);
  });

  // --- task page --------------------------------------------------------------------------------------
  function taskPage() { return $('.page[data-page="task"]'); }
  function taskUrl(action) { return "/api/task/" + encodeURIComponent(taskPage().dataset.code) + "/" + action; }

  function showTitleForm(show) {
    var view = $("[data-title-view]"), form = $("[data-title-form]");
    if (!view || !form) return;
    view.hidden = show;
    form.hidden = !show;
    if (show) { var input = $("input", form); input.focus(); input.select(); }
    else if (deferred) { deferred = false; refresh(); }
  }

  /* The preview is fetched once per page; a refresh that swaps the page in meanwhile gets
     the text (or, still loading, the text when it comes) in its own <pre>. */
  var agentInit = {};
  function loadOpenPreviews(root) {
    $$("details[open][data-agent-init]", root).forEach(loadAgentInit);
  }
  function loadAgentInit(details) {
    var code = details.dataset.agentInit;
    if (details.dataset.loaded) return;
    details.dataset.loaded = "pending";
    var show = function (text, ok) {
      if (ok) agentInit[code] = text;
      var current = $('details[data-agent-init="' + cssEscape(code) + '"]');
      if (!current) return;
      $("[data-agent-init-text]", current).textContent = text;
      if (ok) current.dataset.loaded = "done";
      else delete current.dataset.loaded;  // closing and opening it again asks again
    };
    fetch("/task/" + encodeURIComponent(code) + "/agent-init.json", { credentials: "same-origin" })
      .then(function (r) { return r.json().then(function (d) { return { ok: r.ok, d: d }; }); })
      .then(function (x) {
        if (x.ok && typeof x.d.markdown === "string") show(x.d.markdown, true);
        else show(x.d.error || "Could not load it.", false);
      })
      .catch(function () { show("Could not load it.", false); });
  }

  function copyText(sel, btn) {
    var el = $(sel);
    if (!el) return;
    var text = el.textContent;
    var done = function () { btn.textContent = "Copied"; setTimeout(function () { btn.textContent = "Copy"; }, 1600); };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { toast("Copy failed: select the text and copy it", "warn"); });
    } else {
      var range = document.createRange();
      range.selectNodeContents(el);
      var s = getSelection(); s.removeAllRanges(); s.addRange(range);
      try { document.execCommand("copy"); done(); } catch (e) { toast("Select the text and copy it", "warn"); }
    }
  }

  // --- forms and dialogs ------------------------------------------------------------------------------
  function slugify(s) {
    return s.toLowerCase().normalize("NFKD").replace(/[\u0300-\u036f]/g, "").replace(/[^a-z0-9]+/g, "-").replace(/^-+|-+$/g, "").slice(0, 60);
  }

  function submitApiForm(form) {
    var body = {};
    new FormData(form).forEach(function (v, k) { if (k !== "csrf_token") body[k] = v; });
    var err = $("[data-form-error]", form);
    var btn = $("button:not([type=button])", form);
    if (btn) btn.disabled = true;
    return api(form.getAttribute("action"), body).then(function (r) {
      if (btn) btn.disabled = false;
      if (!r.ok) {
        if (err) { err.textContent = r.data.error || "failed (" + r.status + ")"; err.hidden = false; }
        return;
      }
      if (err) err.hidden = true;
      var dialog = form.closest("dialog");
      if (dialog) dialog.close();
      form.reset();
      $$("[data-slug-target]", form).forEach(function (t) { delete t.dataset.touched; });
      toast(r.data.message, "ok");
      if (r.data.url && form.getAttribute("action") === "/api/bug") { location.href = r.data.url; return; }
      refresh(true);
    });
  }

  document.addEventListener("click", function (e) {
    var t = e.target.closest ? e.target : e.target.parentElement;
    var el;
    if ((el = t.closest(".card-menu-btn"))) { e.preventDefault(); openMenu(el); return; }
    if ((el = t.closest("[data-move]"))) {
      var card = el.closest(".card");
      closeMenus();
      var btn = $(".card-menu-btn", card);
      moveCard(card.dataset.code, el.dataset.move).then(function () {
        var again = $('.card[data-code="' + cssEscape(card.dataset.code) + '"] .card-menu-btn');
        (again || btn).focus();
      });
      return;
    }
    if (!t.closest(".menu")) closeMenus();
    if ((el = t.closest("[data-open]"))) { var d = document.getElementById(el.dataset.open); if (d) d.showModal(); return; }
    if ((el = t.closest("[data-close]"))) { el.closest("dialog").close(); return; }
    if ((el = t.closest("[data-theme-toggle]"))) {
      var root = document.documentElement;
      var dark = root.dataset.theme ? root.dataset.theme === "dark" : matchMedia("(prefers-color-scheme: dark)").matches;
      root.dataset.theme = dark ? "light" : "dark";
      try { localStorage.setItem("orchsync-theme", root.dataset.theme); } catch (err) { /* ignore */ }
      return;
    }
    if ((el = t.closest("[data-edit-title]"))) { showTitleForm(true); return; }
    if ((el = t.closest("[data-cancel-title]"))) { showTitleForm(false); return; }
    if ((el = t.closest("[data-copy]"))) { copyText(el.dataset.copy, el); return; }
    if ((el = t.closest("[data-rollback]"))) {
      var rev = el.dataset.rollback;
      if (!confirm("Write the version of " + rev.slice(0, 12) + " back as a new commit?")) return;
      el.disabled = true;
      api(taskUrl("rollback"), { to: rev, hash: taskPage().dataset.hash }).then(function (r) { settle(r, "rolled back"); });
    }
  });

  document.addEventListener("change", function (e) {
    var el = e.target;
    if (el.matches("[data-autosubmit]")) { el.form.submit(); return; }
    if (el.matches("[data-filter]")) { filterCards(); syncUrl(); refilter(); return; }
    if (el.matches("[data-check]")) {
      var boxes = $$("[data-check]");
      boxes.forEach(function (b) { b.disabled = true; });
      api(taskUrl("checklist"), {
        section: el.dataset.section, index: Number(el.dataset.index), checked: el.checked, hash: taskPage().dataset.hash,
      }).then(function (r) {
        boxes.forEach(function (b) { b.disabled = false; });
        if (!r.ok) el.checked = !el.checked;
        settle(r, "saved");
      });
      return;
    }
    if (el.matches("[data-field]")) {
      var field = el.dataset.field, body = { hash: taskPage().dataset.hash };
      body[field] = el.value;
      api(taskUrl(field === "status" ? "status" : "edit"), body).then(function (r) { settle(r, field + " saved"); });
    }
  });

  document.addEventListener("input", function (e) {
    var el = e.target;
    if (el.matches("[data-filter]")) { filterCards(); syncUrl(); refilter(); return; }
    if (el.matches("[data-slug-target]")) { el.dataset.touched = "1"; return; }
    if (el.matches("[data-slug-source]")) {
      var target = $("[data-slug-target]", el.form);
      if (target && !target.dataset.touched) target.value = slugify(el.value);
    }
  });

  document.addEventListener("submit", function (e) {
    var form = e.target;
    if (form.matches("[data-api-form]")) { e.preventDefault(); submitApiForm(form); return; }
    if (form.matches("[data-title-form]")) {
      e.preventDefault();
      var title = $("input", form).value;
      api(taskUrl("edit"), { title: title, hash: taskPage().dataset.hash }).then(function (r) {
        form.hidden = true;
        settle(r, "title saved");
      });
      return;
    }
    if (form.matches("[data-filters]")) { e.preventDefault(); syncUrl(); filterCards(); }
  });

  document.addEventListener("toggle", function (e) {
    if (e.target.matches && e.target.matches("[data-agent-init]") && e.target.open) loadAgentInit(e.target);
  }, true);

  document.addEventListener("focusout", function () {
    setTimeout(function () { if (deferred && !editing()) { deferred = false; refresh(); } }, 0);
  });
  document.addEventListener("close", function () { if (deferred) { deferred = false; refresh(); } }, true);

  document.addEventListener("DOMContentLoaded", function () {
    filterCards();
    times();
    feed();
    setInterval(times, 30000);
    connect();
  });
})();
