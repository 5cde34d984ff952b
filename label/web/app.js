// ser label's page. Every text from the data goes into the page as text
// (textContent), never as HTML. Served with a Content-Security-Policy that
// allows this file and nothing inline.
'use strict';
(function () {
  const $ = (id) => document.getElementById(id);
  const token = (document.querySelector('meta[name="ser-token"]') || {}).content || '';
  const params = new URLSearchParams(location.search);
  const nameRE = /^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$/;
  let annotator = params.get('annotator') || '';
  let session = null; // the annotator's progress, as the server last said
  let pair = null; // the pair shown
  let index = -1; // its number, from 0
  let busy = false; // a request is in flight: answers wait for it
  let noteKey = false; // n is down: the note field takes the focus when it comes up
  const body = document.body;

  function setState(s) { body.dataset.state = s; }

  async function api(method, path, payload) {
    const headers = { Accept: 'application/json', 'X-Ser-Label': '1' };
    if (token) headers['X-Ser-Token'] = token;
    const opts = { method: method, headers: headers, cache: 'no-store' };
    if (payload !== undefined) {
      headers['Content-Type'] = 'application/json';
      opts.body = JSON.stringify(payload);
    }
    let res;
    try {
      res = await fetch(path, opts);
    } catch (e) {
      throw new Error('the server does not answer (is ser label running?)');
    }
    let data = null;
    try { data = await res.json(); } catch (e) { data = null; }
    if (!res.ok) throw new Error((data && data.error) || ('HTTP ' + res.status));
    return data;
  }

  function q(extra) {
    const p = new URLSearchParams(extra || {});
    if (annotator) p.set('annotator', annotator);
    return '?' + p.toString();
  }

  function status(msg, isError) {
    const el = $('status');
    el.textContent = msg || '';
    el.className = 'status' + (isError ? ' error' : '');
  }

  // renderText shows a text as it is: line breaks kept, fenced code blocks
  // (```) in a monospace box; all of it as text nodes.
  function renderText(el, text) {
    el.replaceChildren();
    if (text === '') {
      const e = document.createElement('div');
      e.className = 'empty';
      e.textContent = '(empty response)';
      el.append(e);
      return;
    }
    const lines = text.split('\n');
    let buf = [];
    let inCode = false;
    const flush = (code) => {
      if (buf.length === 0) return;
      const node = document.createElement(code ? 'pre' : 'div');
      node.className = code ? 'code' : 'prose';
      node.textContent = buf.join('\n');
      el.append(node);
      buf = [];
    };
    let afterCode = false; // the blank line that usually follows a code block is the block's margin
    for (const line of lines) {
      if (/^\s*```/.test(line)) {
        if (!inCode) {
          if (buf.length > 1 && buf[buf.length - 1] === '') buf.pop(); // and the one before it
          flush(false);
          inCode = true;
          buf.push(line);
        } else {
          buf.push(line);
          flush(true);
          inCode = false;
          afterCode = true;
        }
        continue;
      }
      if (afterCode && line === '' && buf.length === 0) {
        afterCode = false;
        continue;
      }
      afterCode = false;
      buf.push(line);
    }
    flush(inCode);
  }

  function fmtMinutes(s) {
    if (s < 60) return 'under a minute';
    const m = Math.round(s / 60);
    if (m < 60) return m + ' min';
    return Math.floor(m / 60) + ' h ' + (m % 60) + ' min';
  }

  function renderProgress() {
    if (!session) return;
    const s = session;
    $('who').textContent = s.annotator ? 'annotator: ' + s.annotator : '';
    $('fill').style.width = (s.total ? (100 * s.done / s.total) : 0).toFixed(2) + '%';
    let t = s.done + ' / ' + s.total + ' answered';
    if (s.per_min) {
      t += ' · ' + s.per_min.toFixed(1) + ' per minute';
      if (s.done < s.total) t += ' · about ' + fmtMinutes(s.left_s) + ' left';
    }
    $('figures').textContent = t;
    body.dataset.done = String(s.done);
    body.dataset.total = String(s.total);
    renderStrip();
  }

  const stripWindow = 600;
  let strip = { from: -1, to: -1, cells: [] }; // the cells on the page, rebuilt only when the window moves
  function cellClass(i) {
    const c = session.states[i];
    return 'cell ' + (c === '.' ? 's-dot' : 's-' + c) + (i === index ? ' current' : '');
  }
  function cellTitle(i) {
    const c = session.states[i];
    return '#' + (i + 1) + (c === '.' ? ' (open)' : c === 't' ? ' (tie)' : c === 's' ? " (can't judge)" : ' (' + c + ' better)');
  }
  function renderStrip() {
    const el = $('strip');
    const n = session.total;
    let from = 0;
    let to = n;
    if (n > stripWindow) {
      from = Math.max(0, Math.min(n - stripWindow, index - stripWindow / 2));
      from -= from % 100; // move the window in steps, so it is not rebuilt at every pair
      to = Math.min(n, from + stripWindow);
    }
    if (from !== strip.from || to !== strip.to) {
      el.replaceChildren();
      if (n > stripWindow) {
        const note = document.createElement('div');
        note.className = 'stripnote';
        note.textContent = 'pairs ' + (from + 1) + ' to ' + to + ' of ' + n + ' (Go to # reaches any)';
        el.append(note);
      }
      const frag = document.createDocumentFragment();
      const cells = [];
      for (let i = from; i < to; i++) {
        const b = document.createElement('button');
        b.type = 'button';
        b.dataset.i = String(i);
        frag.append(b);
        cells.push(b);
      }
      el.append(frag);
      strip = { from: from, to: to, cells: cells };
    }
    for (let i = from; i < to; i++) {
      const b = strip.cells[i - from];
      const cls = cellClass(i);
      if (b.className !== cls) {
        b.className = cls;
        b.title = cellTitle(i);
      }
    }
  }

  function describe(ans) {
    switch (ans) {
      case 'A': return 'your answer: A is better';
      case 'B': return 'your answer: B is better';
      case 'tie': return 'your answer: tie';
      case 'skip': return "your answer: can't judge";
    }
    return 'not answered yet';
  }

  function renderPair() {
    $('pairno').textContent = 'Pair ' + (index + 1) + ' of ' + session.total;
    $('pairstate').textContent = describe(pair.answer);
    renderText($('prompt'), pair.prompt);
    renderText($('textA'), pair.a);
    renderText($('textB'), pair.b);
    $('prompt').scrollTop = 0;
    $('textA').scrollTop = 0;
    $('textB').scrollTop = 0;
    $('note').value = pair.note || '';
    for (const b of document.querySelectorAll('.answers button')) {
      b.classList.toggle('picked', b.dataset.answer === pair.answer);
    }
    body.dataset.index = String(index);
    body.dataset.id = pair.id;
    body.dataset.answer = pair.answer || '';
  }

  async function show(i) {
    if (!session || i < 0 || i >= session.total) return;
    busy = true;
    setState('busy');
    try {
      pair = await api('GET', '/api/pair' + q({ i: String(i) }));
      index = i;
      renderPair();
      renderStrip();
      status('');
    } catch (e) {
      status(e.message, true);
    }
    busy = false;
    body.dataset.finished = String(session.next < 0);
    setState('ready');
  }

  async function answer(a) {
    if (busy || !pair) return;
    const t0 = performance.now();
    busy = true;
    setState('busy');
    status('saving…');
    let out;
    try {
      out = await api('POST', '/api/answer', { annotator: annotator, id: pair.id, answer: a, note: $('note').value });
    } catch (e) {
      busy = false;
      setState('ready');
      status('Not saved: ' + e.message + ' — answer again to retry.', true);
      return;
    }
    session = out;
    busy = false;
    if (out.pair) {
      // the server sends the next pair open with the answer's receipt
      pair = out.pair;
      index = pair.i;
      renderProgress();
      renderPair();
      status('saved');
      body.dataset.finished = 'false';
      setState('ready');
    } else {
      renderProgress();
      await finished();
      // stay on the pair just answered, showing its answer
      await show(index);
    }
    // what an answer costs in the page, from the key to the next pair shown
    // (saved on disk in between): the figure the benchmark reports
    const ms = performance.now() - t0;
    body.dataset.answerMs = ms.toFixed(2);
    body.dataset.answerMsTotal = (Number(body.dataset.answerMsTotal || 0) + ms).toFixed(2);
  }

  async function undo() {
    if (busy) return;
    busy = true;
    setState('busy');
    let out;
    try {
      out = await api('POST', '/api/undo', { annotator: annotator });
    } catch (e) {
      busy = false;
      setState('ready');
      status('Undo failed: ' + e.message, true);
      return;
    }
    session = out;
    renderProgress();
    busy = false;
    if (out.undone === null || out.undone === undefined) {
      setState('ready');
      status('nothing to undo');
      return;
    }
    if (session.next >= 0) $('donebox').hidden = true;
    await show(out.undone);
    status('took back the answer to pair ' + (out.undone + 1));
  }

  async function finished() {
    $('donebox').hidden = false;
    const el = $('results');
    el.replaceChildren();
    let st;
    try {
      st = await api('GET', '/api/stats' + q());
    } catch (e) {
      el.textContent = 'agreement figures not available: ' + e.message;
      return;
    }
    if (!st.finished) return;
    const lines = [];
    for (const o of st.others || []) {
      lines.push('Agreement with ' + o.annotator + ': ' + o.percent.toFixed(1) + '% of ' + o.n + ' pairs both answered, Cohen\'s kappa ' +
        (o.kappa === null || o.kappa === undefined ? 'n/a' : o.kappa.toFixed(3)) + '.');
    }
    if (lines.length === 0) lines.push('Nothing to compare with yet: no one else has answered these pairs.');
    lines.push('These figures are those of your answers when you first finished; later changes do not move them. Agreement with the labels the pairs came with is not shown here (it would tell them): the export gives it (ser label export --stats).');
    for (const t of lines) {
      const p = document.createElement('p');
      p.textContent = t;
      el.append(p);
    }
  }

  async function start() {
    setState('loading');
    try {
      session = await api('GET', '/api/session' + q());
    } catch (e) {
      setState('error');
      $('figures').textContent = '';
      status(e.message, true);
      $('work').hidden = false;
      return;
    }
    if (session.need_name) {
      $('namebox').hidden = false;
      $('work').hidden = true;
      $('figures').textContent = session.total + ' pairs to label';
      setState('name');
      $('name').focus();
      return;
    }
    annotator = session.annotator;
    $('namebox').hidden = true;
    $('work').hidden = false;
    index = session.next >= 0 ? session.next : 0;
    renderProgress();
    if (session.next < 0) await finished();
    await show(index);
  }

  $('nameform').addEventListener('submit', (e) => {
    e.preventDefault();
    const n = $('name').value.trim();
    if (!nameRE.test(n)) {
      $('nameerror').textContent = 'Use 1 to 64 letters, digits, - or _, starting with a letter or digit.';
      return;
    }
    annotator = n;
    params.set('annotator', n);
    history.replaceState(null, '', '?' + params.toString());
    start();
  });

  for (const b of document.querySelectorAll('.answers button')) {
    b.addEventListener('click', () => answer(b.dataset.answer));
  }
  $('btnUndo').addEventListener('click', () => undo());
  $('btnPrev').addEventListener('click', () => { if (!busy) show(index - 1); });
  $('btnNext').addEventListener('click', () => { if (!busy) show(index + 1); });
  $('strip').addEventListener('click', (e) => {
    const i = e.target && e.target.dataset ? e.target.dataset.i : undefined;
    if (i !== undefined && !busy) show(Number(i));
  });
  $('goto').addEventListener('change', () => {
    const i = Number($('goto').value) - 1;
    if (Number.isInteger(i) && !busy) show(i);
    $('goto').value = '';
    $('goto').blur();
  });

  document.addEventListener('keydown', (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    const t = e.target;
    if (t && (t.tagName === 'INPUT' || t.tagName === 'TEXTAREA')) {
      if (t.id === 'note' && (e.key === 'Escape' || e.key === 'Enter')) {
        t.blur();
        e.preventDefault();
      }
      return;
    }
    if (!pair) return;
    switch (e.key) {
      case '1': if (!e.repeat) answer('A'); break;
      case '2': if (!e.repeat) answer('B'); break;
      case 't': case 'T': if (!e.repeat) answer('tie'); break;
      case 's': case 'S': if (!e.repeat) answer('skip'); break;
      case 'u': case 'U': if (!e.repeat) undo(); break;
      case 'ArrowLeft': if (!busy) show(index - 1); break;
      case 'ArrowRight': if (!busy) show(index + 1); break;
      case 'n': case 'N': noteKey = true; break; // the field takes the focus on key up, so the n is not typed into it
      default: return;
    }
    e.preventDefault();
  });
  document.addEventListener('keyup', (e) => {
    if (noteKey && (e.key === 'n' || e.key === 'N')) {
      noteKey = false;
      $('note').focus();
    }
  });

  start();
})();
