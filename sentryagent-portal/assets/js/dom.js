// DOM helpers. Data reaches the page only as text (textContent, attribute
// values, form values): nothing here parses a string as HTML.

/** An element: `props` are attributes, except `class`, `text` (its text),
 *  `value`/`checked`/`disabled` (properties) and `on<event>` (listeners). */
export function h(tag, props, ...children) {
  const el = document.createElement(tag);
  setProps(el, props);
  append(el, children);
  return el;
}

/** An SVG element, for charts. */
export function svg(tag, props, ...children) {
  const el = document.createElementNS('http://www.w3.org/2000/svg', tag);
  setProps(el, props);
  append(el, children);
  return el;
}

function setProps(el, props) {
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === 'class') el.setAttribute('class', value);
    else if (key === 'text') el.textContent = String(value);
    else if (key === 'value' || key === 'checked' || key === 'disabled') el[key] = value;
    else if (key.startsWith('on')) el.addEventListener(key.slice(2), value);
    else el.setAttribute(key, value === true ? '' : String(value));
  }
}

/** Appends children: nodes as they are, strings and numbers as text. */
export function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return el;
}

let ids = 0;
/** A unique element id. */
export function uid(prefix = 'f') {
  ids += 1;
  return `${prefix}-${ids}`;
}

/** A labelled form field; `hint` is read out with the input. */
export function field(label, input, hint) {
  if (!input.id) input.id = uid();
  const wrap = h('div', { class: 'field' }, h('label', { for: input.id, text: label }), input);
  if (hint) {
    const hintEl = h('p', { class: 'hint', id: uid('hint'), text: hint });
    input.setAttribute('aria-describedby', hintEl.id);
    wrap.append(hintEl);
  }
  return wrap;
}

/** The words of an error, for people: the API's message and code, and the
 *  fields its details name. */
export function errorBox(error) {
  const box = h('div', { class: 'error', role: 'alert' });
  box.append(h('p', { text: error?.message || String(error) }));
  if (error?.code) box.append(h('p', { class: 'code', text: `Code: ${error.code}${error.status ? ` (HTTP ${error.status})` : ''}` }));
  const details = error?.details;
  if (details && typeof details === 'object' && Object.keys(details).length) {
    box.append(h('ul', {}, Object.entries(details).map(([k, v]) => h('li', {}, h('code', { text: k }), ': ', typeof v === 'string' ? v : JSON.stringify(v)))));
  }
  return box;
}

/** Runs `work` with `button` showing that it is busy; an error is shown in
 *  `errorSlot` (an element next to what caused it) and returned as null. */
export async function busy(button, errorSlot, work) {
  const label = button?.textContent;
  if (button) {
    button.disabled = true;
    button.setAttribute('aria-busy', 'true');
    button.textContent = `${label}…`;
  }
  errorSlot?.replaceChildren();
  try {
    return await work();
  } catch (error) {
    if (errorSlot) errorSlot.replaceChildren(errorBox(error));
    else throw error;
    return null;
  } finally {
    if (button) {
      button.disabled = false;
      button.removeAttribute('aria-busy');
      button.textContent = label;
    }
  }
}

/** Fills `container` with what `build` returns, showing a loading state
 *  while it runs and the error in words if it fails. */
export async function load(container, build, what = 'Loading') {
  container.setAttribute('aria-busy', 'true');
  container.replaceChildren(h('p', { class: 'loading', role: 'status', text: `${what}…` }));
  try {
    const content = await build();
    container.replaceChildren(...[content].flat().filter(Boolean));
  } catch (error) {
    container.replaceChildren(errorBox(error));
  } finally {
    container.removeAttribute('aria-busy');
  }
}

/** A button that copies `text()` to the clipboard and says so. */
export function copyButton(text, label = 'Copy') {
  const status = h('span', { class: 'copied', role: 'status' });
  const button = h('button', {
    type: 'button', class: 'small', text: label,
    onclick: async () => {
      try {
        await navigator.clipboard.writeText(text());
        status.textContent = 'Copied';
      } catch {
        status.textContent = 'Select the text and copy it';
      }
      setTimeout(() => { status.textContent = ''; }, 2500);
    },
  });
  return h('span', { class: 'copy' }, button, status);
}

/** Offers `text` as a file download (made in the tab, no request). */
export function download(filename, text) {
  const url = URL.createObjectURL(new Blob([text], { type: 'text/plain' }));
  const link = h('a', { href: url, download: filename });
  document.body.append(link);
  link.click();
  link.remove();
  setTimeout(() => URL.revokeObjectURL(url), 1000);
}

/** A value shown with a copy button, e.g. a client id or a one-time secret. */
export function copyable(label, value, { secret = false } = {}) {
  const input = h('input', { type: 'text', readonly: true, value, class: secret ? 'secret' : 'mono', spellcheck: 'false', autocomplete: 'off' });
  input.addEventListener('focus', () => input.select());
  const wrap = field(label, input);
  wrap.classList.add('copyable');
  wrap.append(copyButton(() => value, `Copy ${label.toLowerCase()}`));
  return wrap;
}

/** A code block with a copy button. */
export function codeBlock(code, label = 'Copy') {
  return h('div', { class: 'codeblock' }, h('pre', {}, h('code', { text: code })), copyButton(() => code, label));
}

/** Asks for confirmation in a modal dialog (keyboard-usable); with
 *  `typeToConfirm`, the person must type that text first. Resolves true
 *  when confirmed. */
export function confirmDialog({ title, message, confirmLabel = 'Confirm', danger = false, typeToConfirm = null }) {
  return new Promise((resolve) => {
    const typed = typeToConfirm === null ? null : h('input', { type: 'text', autocomplete: 'off', spellcheck: 'false' });
    const ok = h('button', { type: 'submit', class: danger ? 'danger' : 'primary', text: confirmLabel, disabled: typed !== null });
    const cancel = h('button', { type: 'button', text: 'Cancel', value: 'cancel' });
    if (typed) typed.addEventListener('input', () => { ok.disabled = typed.value !== typeToConfirm; });
    const form = h('form', { method: 'dialog' },
      h('h2', { text: title }),
      h('p', { text: message }),
      typed && field(`Type ${typeToConfirm} to confirm`, typed),
      h('div', { class: 'actions' }, cancel, ok));
    const dialog = h('dialog', { class: 'confirm', 'aria-label': title }, form);
    let confirmed = false;
    form.addEventListener('submit', () => { confirmed = true; });
    cancel.addEventListener('click', () => dialog.close());
    dialog.addEventListener('close', () => { dialog.remove(); resolve(confirmed); });
    document.body.append(dialog);
    dialog.showModal();
    (typed || cancel).focus();
  });
}

/** A time for people, in their locale, with the exact value as a title. */
export function time(iso) {
  if (!iso) return h('span', { text: '—' });
  const date = new Date(iso);
  return h('time', { datetime: iso, title: iso, text: Number.isNaN(date.getTime()) ? iso : date.toLocaleString() });
}

/** A coloured label, e.g. an agent's status. */
export function badge(text, kind = text) {
  return h('span', { class: `badge badge-${kind}`, text });
}

/** Previous / next buttons over cursor pages. */
export function pager({ page, hasNext, onPrev, onNext }) {
  return h('nav', { class: 'pager', 'aria-label': 'Pages' },
    h('button', { type: 'button', text: 'Previous page', disabled: page <= 1, onclick: onPrev }),
    h('span', { text: `Page ${page}` }),
    h('button', { type: 'button', text: 'Next page', disabled: !hasNext, onclick: onNext }));
}

/** A table whose rows come from `rows`; wide tables scroll sideways on phones. */
export function table(headers, rows, caption) {
  return h('div', { class: 'table-wrap', tabindex: '0', role: 'region', 'aria-label': caption || 'Table' },
    h('table', {},
      caption && h('caption', { class: 'visually-hidden', text: caption }),
      h('thead', {}, h('tr', {}, headers.map((t) => h('th', { scope: 'col', text: t })))),
      h('tbody', {}, rows)));
}

/** A page heading and the element to fill under it. */
export function section(title, ...children) {
  return h('section', {}, h('h1', { text: title }), ...children);
}

/** A list over cursor pages in `container`: `fetchPage(cursor)` answers
 *  `{items, nextCursor}`, `render(items)` shows them. Returns a function
 *  that shows the current page again (after a change). */
export function paged(container, fetchPage, render, what = 'Loading') {
  const cursors = [null];
  const show = () => load(container, async () => {
    const page = await fetchPage(cursors[cursors.length - 1]);
    const next = page.nextCursor;
    return [
      render(page.items),
      pager({
        page: cursors.length,
        hasNext: Boolean(next),
        onPrev: () => { cursors.pop(); show(); },
        onNext: () => { cursors.push(next); show(); },
      }),
    ];
  }, what);
  show();
  return show;
}
