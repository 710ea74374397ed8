/**
 * Small helpers to update a panel's DOM in place: the status is polled every few seconds, and
 * rebuilding the nodes on every poll would take the focus from a button, restart a hover or a
 * selection and make screen readers announce the panel again. Each setter writes only when
 * the value differs (even an equal write is a DOM mutation), and ``KeyedList`` keeps one row
 * per item id, adding, updating and removing rows as items come and go.
 */

/** A new element with an optional class name and text. */
export function el<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  className = '',
  text = ''
): HTMLElementTagNameMap[K] {
  const node = document.createElement(tag);
  if (className) {
    node.className = className;
  }
  if (text) {
    node.textContent = text;
  }
  return node;
}

export function setText(node: Node, text: string): void {
  if (node.textContent !== text) {
    node.textContent = text;
  }
}

export function setHidden(node: HTMLElement, hidden: boolean): void {
  if (node.hidden !== hidden) {
    node.hidden = hidden;
  }
}

export function setDisabled(node: HTMLButtonElement | HTMLInputElement, disabled: boolean): void {
  if (node.disabled !== disabled) {
    node.disabled = disabled;
  }
}

/** Set the attribute ``name`` to ``value``, or remove it for null. */
export function setAttribute(node: Element, name: string, value: string | null): void {
  if (node.getAttribute(name) === value) {
    return;
  }
  if (value === null) {
    node.removeAttribute(name);
  } else {
    node.setAttribute(name, value);
  }
}

/** Add or remove the class ``name`` (``classList.toggle`` may write the attribute anyway). */
export function setClass(node: Element, name: string, on: boolean): void {
  if (node.classList.contains(name) !== on) {
    node.classList.toggle(name, on);
  }
}

export function setStyle(node: HTMLElement, property: 'width', value: string): void {
  if (node.style[property] !== value) {
    node.style[property] = value;
  }
}

/** One row of a ``KeyedList``: its node, and whatever references its ``update`` needs. */
export interface IKeyedRow {
  readonly node: HTMLElement;
}

export interface IKeyedListOptions<T, R extends IKeyedRow> {
  /** The list element; the rows and the placeholder are its only children. */
  container: HTMLElement;
  /** The id of an item: an item keeps its row for as long as its id is listed. */
  key: (item: T) => string;
  /** A new row for an item (its ``update`` follows at once). */
  create: (item: T) => R;
  /** Bring a row up to date with its item (use the setters above: write only what changed). */
  update: (row: R, item: T) => void;
  /** The class of the placeholder item shown instead of rows (an empty list, an error). */
  placeholderClass: string;
}

/**
 * The rows of a list element, one per item id, in the items' order. ``update(items)`` removes
 * the rows of ids no longer listed, creates the rows of new ids, updates every row in place and
 * moves only the rows that are out of order, so a row that stays keeps its node (and focus).
 */
export class KeyedList<T, R extends IKeyedRow> {
  constructor(private _options: IKeyedListOptions<T, R>) {
    this._placeholder = el('li', _options.placeholderClass);
    this._placeholder.hidden = true;
    _options.container.append(this._placeholder);
  }

  /** The row of the item with id ``key``, if listed. */
  row(key: string): R | undefined {
    return this._rows.get(key);
  }

  /** Show ``items``; ``placeholder`` is shown after them when it is not empty. */
  update(items: readonly T[], placeholder = ''): void {
    const { container, key, create, update } = this._options;
    const keys = items.map(key);
    const listed = new Set(keys);
    for (const [id, row] of this._rows) {
      if (!listed.has(id)) {
        row.node.remove();
        this._rows.delete(id);
      }
    }
    let next: ChildNode | null = container.firstChild;
    items.forEach((item, index) => {
      let row = this._rows.get(keys[index]);
      if (!row) {
        row = create(item);
        this._rows.set(keys[index], row);
      }
      update(row, item);
      if (row.node === next) {
        next = next.nextSibling;
      } else {
        container.insertBefore(row.node, next);
      }
    });
    setText(this._placeholder, placeholder);
    setHidden(this._placeholder, placeholder === '');
  }

  private _rows = new Map<string, R>();
  private _placeholder: HTMLLIElement;
}
