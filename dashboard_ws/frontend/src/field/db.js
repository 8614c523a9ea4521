// The outbox in IndexedDB (one object store, an entry per report, keyed by its id): survives a
// reload, a closed tab and a phone without connection. A browser without IndexedDB (a private
// window of an old browser) keeps the queue in memory only; the page says nothing is lost while
// it stays open.

const NAME = "riskmon-field";
const STORE = "outbox";

function open() {
  return new Promise((resolve, reject) => {
    const request = indexedDB.open(NAME, 1);
    request.onupgradeneeded = () => request.result.createObjectStore(STORE, { keyPath: "id" });
    request.onsuccess = () => resolve(request.result);
    request.onerror = () => reject(request.error);
  });
}

export class Outbox {
  constructor() {
    this.db = null;
  }

  /** Every stored entry, oldest first ([] without IndexedDB). */
  async load() {
    try {
      this.db = await open();
    } catch {
      this.db = null;
      return [];
    }
    const entries = await this.run("readonly", (store) => store.getAll());
    return (entries || []).sort((a, b) => a.createdAt - b.createdAt);
  }

  /** Store the queue as it is now: put every entry, delete those no longer in it. */
  async save(queue) {
    if (!this.db) return;
    const ids = new Set(queue.map((e) => e.id));
    const stored = (await this.run("readonly", (store) => store.getAllKeys())) || [];
    await this.run("readwrite", (store) => {
      for (const key of stored) if (!ids.has(key)) store.delete(key);
      for (const entry of queue) store.put(entry);
    });
  }

  run(mode, work) {
    return new Promise((resolve, reject) => {
      const tx = this.db.transaction(STORE, mode);
      const result = work(tx.objectStore(STORE));
      tx.oncomplete = () => resolve(result && "result" in result ? result.result : undefined);
      tx.onerror = () => reject(tx.error);
    });
  }
}
