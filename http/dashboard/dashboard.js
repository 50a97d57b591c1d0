// Tally's dashboard: plain JavaScript, no framework, nothing loaded from elsewhere. Every value
// from the API reaches the page through textContent or SVG attributes, never as HTML.
'use strict';

(function () {
  const KEY_STORAGE = 'tally.owner_key';
  const LIVE_ITEMS = 50;
  const PAGE_SIZE = 50;
  const GATEWAY_COLORS = ['#3156d3', '#1f8a4c', '#b7791f', '#8b3fc7', '#c53030', '#168aa0'];

  const $ = (id) => document.getElementById(id);
  const state = {
    key: sessionStorage.getItem(KEY_STORAGE) || '',
    timeZone: 'America/Sao_Paulo',
    currency: 'BRL',
    cursors: [''],   // the cursor of each page shown so far; the last is the current page's
    nextCursor: null,
    filters: {},
    socket: null,
    reconnectDelay: 1000,
    refreshTimers: [],
    healthTimer: null,
  };

  class ApiError extends Error {
    constructor(status, code, message) {
      super(message);
      this.status = status;
      this.code = code;
    }
  }

  async function api(path) {
    const response = await fetch(path, {
      headers: { Authorization: 'Bearer ' + state.key, Accept: 'application/json' },
      cache: 'no-store',
    });
    let body = null;
    try {
      body = await response.json();
    } catch (e) {
      body = null;
    }
    if (!response.ok) {
      const error = body && body.error ? body.error : {};
      throw new ApiError(response.status, error.code || 'http_' + response.status,
                         error.message || response.statusText);
    }
    return body;
  }

  function show(element, visible) { element.hidden = !visible; }
  function setError(id, error) {
    const element = $(id);
    if (!error) { show(element, false); return; }
    element.textContent = error instanceof ApiError ? error.message + ' (' + error.code + ')' : String(error);
    show(element, true);
  }

  // --- formatting ---------------------------------------------------------------------------
  function money(minor, currency) {
    try {
      return new Intl.NumberFormat('pt-BR', { style: 'currency', currency: currency || state.currency })
        .format((minor || 0) / 100);
    } catch (e) {
      return ((minor || 0) / 100).toFixed(2) + ' ' + (currency || '');
    }
  }
  function dateIn(timeZone, date) {
    // en-CA formats as YYYY-MM-DD.
    return new Intl.DateTimeFormat('en-CA', { timeZone, year: 'numeric', month: '2-digit', day: '2-digit' })
      .format(date);
  }
  function today() { return dateIn(state.timeZone, new Date()); }
  function daysBefore(day, n) {
    const d = new Date(day + 'T12:00:00Z');
    d.setUTCDate(d.getUTCDate() - n);
    return d.toISOString().slice(0, 10);
  }
  function time(text) {
    if (!text) return '';
    const d = new Date(text);
    return new Intl.DateTimeFormat('pt-BR', { timeZone: state.timeZone, dateStyle: 'short', timeStyle: 'medium' })
      .format(d);
  }
  function el(tag, text, className) {
    const e = document.createElement(tag);
    if (text !== undefined && text !== null) e.textContent = String(text);
    if (className) e.className = className;
    return e;
  }
  function setValue(id, text) {
    const element = $(id);
    if (element.textContent === text) return;
    element.textContent = text;
    element.classList.remove('changed');
    void element.offsetWidth;  // restarts the animation
    element.classList.add('changed');
  }

  // --- sign in and out ----------------------------------------------------------------------
  async function signIn(key) {
    state.key = key;
    $('sign-in-button').disabled = true;
    try {
      await loadHealth();
    } catch (error) {
      state.key = '';
      sessionStorage.removeItem(KEY_STORAGE);
      let message;
      if (error.status === 401) {
        message = 'This key was not accepted: ' + error.message + '. Check that you pasted the whole owner key.';
      } else if (error.status === 403) {
        message = 'This key cannot open the dashboard: ' + error.message + '.';
      } else {
        message = 'Could not sign in: ' + error.message;
      }
      $('sign-in-error').textContent = message;
      show($('sign-in-error'), true);
      $('sign-in-button').disabled = false;
      return;
    }
    sessionStorage.setItem(KEY_STORAGE, key);
    $('sign-in-button').disabled = false;
    show($('sign-in-error'), false);
    show($('sign-in'), false);
    show($('app'), true);
    show($('health'), true);
    show($('sign-out'), true);
    state.healthTimer = setInterval(() => loadHealth().catch(healthFailed), 5000);
    connectLive();
    await Promise.all([loadRevenue().then(loadTotals), loadPayments()]);
  }

  function signOut(message) {
    sessionStorage.removeItem(KEY_STORAGE);
    state.key = '';
    clearInterval(state.healthTimer);
    if (state.socket) { state.socket.onclose = null; state.socket.close(1000); state.socket = null; }
    show($('app'), false);
    show($('health'), false);
    show($('sign-out'), false);
    show($('sign-in'), true);
    $('key').value = '';
    if (message) { $('sign-in-error').textContent = message; show($('sign-in-error'), true); }
  }

  // An API answer that says the key is no longer good ends the session.
  function handleAuth(error) {
    if (error instanceof ApiError && (error.status === 401 || error.status === 403)) {
      signOut('Signed out: ' + error.message);
      return true;
    }
    return false;
  }

  // --- health strip ---------------------------------------------------------------------------
  async function loadHealth() {
    const health = await api('/v1/health');
    const pill = (id, label, value, warnAt, badAt) => {
      const element = $(id);
      element.textContent = label + ': ' + value;
      element.className = 'pill ' + (value >= badAt ? 'bad' : value >= warnAt ? 'warn' : 'ok');
    };
    pill('health-projections', 'projections behind', health.projection_lag, 100, 10000);
    pill('health-reactors', 'reactors behind', health.reactor_lag, 100, 10000);
    pill('health-parked', 'parked', health.parked, 1, 100);
    if (health.projections_stopped && health.projections_stopped.length) {
      const element = $('health-projections');
      element.textContent = 'stopped: ' + health.projections_stopped.join(', ');
      element.className = 'pill bad';
    }
    return health;
  }
  function healthFailed(error) {
    if (handleAuth(error)) return;
    $('health-projections').textContent = 'health unavailable';
    $('health-projections').className = 'pill bad';
  }

  // --- totals and chart -------------------------------------------------------------------------
  async function loadTotals() {
    try {
      const day = today();
      const stats = await api('/v1/stats?from=' + day + '&to=' + day);
      if (stats.currency) state.currency = stats.currency;
      setValue('today-revenue', money(stats.revenue_minor, stats.currency));
      setValue('today-sales', String(stats.sales));
      setValue('today-ticket', money(stats.average_ticket_minor, stats.currency));
      setError('totals-error', null);
    } catch (error) {
      if (!handleAuth(error)) setError('totals-error', error);
    }
  }

  async function loadRevenue() {
    try {
      const to = today();
      const from = daysBefore(to, 29);
      const revenue = await api('/v1/revenue?from=' + from + '&to=' + to + '&group_by=day,gateway');
      if (revenue.time_zone && revenue.time_zone !== state.timeZone) state.timeZone = revenue.time_zone;
      $('time-zone').textContent = '(' + state.timeZone + ')';
      drawChart(revenue.groups || [], from, to);
      setError('chart-error', null);
    } catch (error) {
      if (!handleAuth(error)) setError('chart-error', error);
    }
  }

  function drawChart(groups, from, to) {
    const days = [];
    for (let d = from; d <= to; d = daysBefore(d, -1)) days.push(d);
    const gateways = [...new Set(groups.map((g) => g.gateway))].sort();
    const byDay = new Map(days.map((d) => [d, new Map()]));
    let total = 0;
    let currency = state.currency;
    for (const g of groups) {
      if (!byDay.has(g.day)) continue;
      const amount = g.net_minor !== undefined ? g.net_minor : g.paid_minor;
      byDay.get(g.day).set(g.gateway, (byDay.get(g.day).get(g.gateway) || 0) + amount);
      total += amount;
      if (g.currency) currency = g.currency;
    }
    setValue('month-revenue', money(total, currency));
    const max = Math.max(1, ...days.map((d) => [...byDay.get(d).values()].reduce((a, b) => a + Math.max(b, 0), 0)));
    const ns = 'http://www.w3.org/2000/svg';
    const width = 900, height = 220, left = 60, bottom = 22, top = 8;
    const svg = document.createElementNS(ns, 'svg');
    svg.setAttribute('viewBox', '0 0 ' + width + ' ' + height);
    svg.setAttribute('role', 'img');
    svg.setAttribute('aria-label', 'Revenue per day for the last 30 days, by gateway');
    const plotHeight = height - bottom - top;
    const slot = (width - left) / days.length;
    const addText = (x, y, text, anchor) => {
      const t = document.createElementNS(ns, 'text');
      t.setAttribute('x', x); t.setAttribute('y', y); t.setAttribute('class', 'axis');
      t.setAttribute('text-anchor', anchor || 'middle');
      t.textContent = text;
      svg.appendChild(t);
    };
    for (const fraction of [0, 0.5, 1]) {
      const y = top + plotHeight * (1 - fraction);
      const line = document.createElementNS(ns, 'line');
      line.setAttribute('x1', left); line.setAttribute('x2', width);
      line.setAttribute('y1', y); line.setAttribute('y2', y);
      line.setAttribute('stroke', '#e3e6ea');
      svg.appendChild(line);
      addText(left - 6, y + 3, money(max * fraction, currency), 'end');
    }
    days.forEach((day, i) => {
      let y = top + plotHeight;
      gateways.forEach((gateway, gi) => {
        const amount = Math.max(byDay.get(day).get(gateway) || 0, 0);
        if (!amount) return;
        const h = (amount / max) * plotHeight;
        y -= h;
        const rect = document.createElementNS(ns, 'rect');
        rect.setAttribute('x', left + i * slot + slot * 0.15);
        rect.setAttribute('width', slot * 0.7);
        rect.setAttribute('y', y);
        rect.setAttribute('height', h);
        rect.setAttribute('fill', GATEWAY_COLORS[gi % GATEWAY_COLORS.length]);
        const title = document.createElementNS(ns, 'title');
        title.textContent = day + ' ' + gateway + ': ' + money(amount, currency);
        rect.appendChild(title);
        svg.appendChild(rect);
      });
      if (i % 5 === 0 || i === days.length - 1) addText(left + i * slot + slot / 2, height - 6, day.slice(5));
    });
    $('chart').replaceChildren(svg);
    const legend = $('legend');
    legend.replaceChildren();
    gateways.forEach((gateway, gi) => {
      const item = el('span', null);
      const swatch = el('i');
      swatch.style.background = GATEWAY_COLORS[gi % GATEWAY_COLORS.length];
      item.append(swatch, document.createTextNode(gateway));
      legend.appendChild(item);
    });
    if (!gateways.length) legend.appendChild(el('span', 'No paid sales in these 30 days.', 'muted'));
  }

  // --- payments table ---------------------------------------------------------------------------
  function paymentRow(p) {
    const tr = document.createElement('tr');
    tr.dataset.paymentId = p.payment_id || '';
    const status = el('span', p.status, 'pill status ' + (p.status || ''));
    const cells = [
      el('td', time(p.created_at)), el('td', p.payment_id), el('td', p.gateway), el('td', p.bot_id),
      el('td', p.product_id), el('td', p.customer_id),
      el('td', money(p.amount_minor, p.currency), 'num'), el('td'), el('td', time(p.paid_at)),
      el('td', p.delivery_state || ''), el('td', p.purchase_sent ? 'sent' : (p.purchase_state || '')),
    ];
    cells[7].appendChild(status);
    if (p.status === 'paid' && !p.paid_confirmed) cells[7].appendChild(el('span', ' unconfirmed', 'muted'));
    tr.append(...cells);
    return tr;
  }

  async function loadPayments() {
    const params = new URLSearchParams();
    for (const [name, value] of Object.entries(state.filters)) if (value) params.set(name, value);
    // The API's created_to is exclusive; the form's "to" day is included.
    if (state.filters.created_to) params.set('created_to', daysBefore(state.filters.created_to, -1));
    params.set('limit', String(PAGE_SIZE));
    const cursor = state.cursors[state.cursors.length - 1];
    if (cursor) params.set('cursor', cursor);
    try {
      const page = await api('/v1/payments?' + params.toString());
      $('payments').replaceChildren(...(page.payments || []).map(paymentRow));
      if (!(page.payments || []).length) {
        const tr = el('tr');
        const td = el('td', 'No payments match.', 'muted');
        td.colSpan = 11;
        tr.appendChild(td);
        $('payments').appendChild(tr);
      }
      state.nextCursor = page.next_cursor || null;
      $('next-page').disabled = !state.nextCursor;
      $('first-page').disabled = state.cursors.length <= 1;
      setError('payments-error', null);
    } catch (error) {
      if (!handleAuth(error)) setError('payments-error', error);
    }
  }

  // A live change: updated in place when shown; a new payment goes on top of an unfiltered first
  // page.
  function applyToTable(p) {
    const rows = $('payments').querySelectorAll('tr');
    for (const row of rows) {
      if (row.dataset.paymentId === p.payment_id) {
        const fresh = paymentRow(p);
        fresh.classList.add('fresh');
        row.replaceWith(fresh);
        return;
      }
    }
    const unfiltered = !Object.values(state.filters).some(Boolean);
    if (unfiltered && state.cursors.length === 1 && p.payment_id) {
      for (const row of rows) if (!row.dataset.paymentId) row.remove();
      const fresh = paymentRow(p);
      fresh.classList.add('fresh');
      $('payments').prepend(fresh);
      while ($('payments').children.length > PAGE_SIZE) $('payments').lastElementChild.remove();
    }
  }

  // --- live feed -------------------------------------------------------------------------------
  function liveStatus(text, className) {
    $('live-status').textContent = text;
    $('live-status').className = 'pill ' + className;
  }

  function connectLive() {
    const scheme = location.protocol === 'https:' ? 'wss://' : 'ws://';
    const socket = new WebSocket(scheme + location.host + '/v1/live');
    state.socket = socket;
    liveStatus('connecting…', 'warn');
    socket.onopen = () => socket.send(JSON.stringify({ key: state.key }));
    socket.onmessage = (event) => {
      let message;
      try { message = JSON.parse(event.data); } catch (e) { return; }
      if (message.type === 'ready') {
        state.reconnectDelay = 1000;
        liveStatus('live', 'ok');
      } else if (message.type === 'payment') {
        onPayment(message.payment);
      } else if (message.type === 'error') {
        liveStatus(message.error.message, 'bad');
      }
    };
    socket.onclose = (event) => {
      if (state.socket !== socket) return;
      state.socket = null;
      if (event.code === 1008) {
        liveStatus('refused: sign in again', 'bad');
        return;
      }
      liveStatus('reconnecting…', 'warn');
      setTimeout(() => { if (state.key) connectLive(); }, state.reconnectDelay);
      state.reconnectDelay = Math.min(state.reconnectDelay * 2, 15000);
    };
  }

  function onPayment(p) {
    show($('live-empty'), false);
    const list = $('live');
    const id = 'live-' + (p.payment_id || '');
    const old = list.querySelector('li[data-payment-id="' + CSS.escape(p.payment_id || '') + '"]');
    const item = el('li', null, 'fresh');
    item.dataset.paymentId = p.payment_id || '';
    item.id = id;
    const who = el('span', (p.product_id || 'payment') + ' · ' + (p.customer_id || '') + ' · ' + (p.gateway || ''), 'who');
    const amount = el('span', money(p.amount_minor, p.currency));
    let label = p.status;
    if (p.purchase_sent) label = 'purchase sent';
    else if (p.status === 'paid' && p.delivery_state) label = 'paid · ' + p.delivery_state;
    const status = el('span', label, 'pill status ' + (p.status || ''));
    item.append(who, amount, status);
    if (old) old.remove();
    list.prepend(item);
    while (list.children.length > LIVE_ITEMS) list.lastElementChild.remove();
    applyToTable(p);
    if (p.status !== 'pending') scheduleTotals();
  }

  // The revenue projection commits apart from the payments one: read the totals now and once
  // more shortly after.
  function scheduleTotals() {
    state.refreshTimers.forEach(clearTimeout);
    state.refreshTimers = [
      setTimeout(loadTotals, 50),
      setTimeout(() => { loadTotals(); loadRevenue(); }, 700),
    ];
  }

  // --- wiring --------------------------------------------------------------------------------
  document.addEventListener('DOMContentLoaded', () => {
    $('sign-in-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const key = $('key').value.trim();
      if (key) signIn(key);
    });
    $('sign-out').addEventListener('click', () => signOut());
    $('filters').addEventListener('submit', (event) => {
      event.preventDefault();
      const data = new FormData($('filters'));
      state.filters = {};
      for (const [name, value] of data.entries()) state.filters[name] = String(value).trim();
      state.cursors = [''];
      loadPayments();
    });
    $('next-page').addEventListener('click', () => {
      if (!state.nextCursor) return;
      state.cursors.push(state.nextCursor);
      loadPayments();
    });
    $('first-page').addEventListener('click', () => {
      state.cursors = [''];
      loadPayments();
    });
    if (state.key) signIn(state.key);
  });
})();
