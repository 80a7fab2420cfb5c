// A set of objects kept as a doubly-linked list through the objects themselves: add, delete and
// size in O(1), iteration in insertion order (newest first), and no hash table behind it.
//
// Why not a Set: a Set's old hash tables keep the entries they had, and V8's scavenger takes an old
// table that was promoted for a root until the next full collection. A long-lived Set of requests
// in progress, with thousands added and deleted a second, kept finished requests alive that way and
// had them promoted with everything they held (see `settle` in src/elliptics/connection.ts for the
// same effect in a Map).

/** What a member carries: its neighbours (undefined while it is not in a set). */
export interface Linked<T> {
  listPrev: T | undefined;
  listNext: T | undefined;
}

export class LinkedSet<T extends Linked<T>> {
  private head: T | undefined;
  size = 0;

  add(item: T): void {
    item.listPrev = undefined;
    item.listNext = this.head;
    if (this.head) this.head.listPrev = item;
    this.head = item;
    this.size++;
  }

  /** Takes `item` out (nothing when it is not in this set). */
  delete(item: T): void {
    if (item.listPrev) item.listPrev.listNext = item.listNext;
    else if (this.head === item) this.head = item.listNext;
    else return;
    if (item.listNext) item.listNext.listPrev = item.listPrev;
    item.listPrev = undefined;
    item.listNext = undefined;
    this.size--;
  }

  /** Every member; the one just visited may be deleted meanwhile. */
  *[Symbol.iterator](): IterableIterator<T> {
    for (let item = this.head; item; ) {
      const next = item.listNext;
      yield item;
      item = next;
    }
  }
}
