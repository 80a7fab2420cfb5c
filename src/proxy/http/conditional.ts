// Conditional requests and validators: Last-Modified / If-Modified-Since as Go's ServeContent, and
// a strong ETag with If-None-Match / If-Range (DESIGN §4.7).

export interface Validators {
  /** Milliseconds since the epoch; 0 when unknown. */
  mtime: number;
  /** A strong ETag, quotes included. */
  etag: string;
}

export interface Conditions {
  ifNoneMatch?: string | undefined;
  ifModifiedSince?: string | undefined;
  ifRange?: string | undefined;
}

let lastDate = { ms: NaN, text: '' };

/** An IMF-fixdate; the last one is remembered (a hot object repeats its Last-Modified). */
export function httpDate(ms: number): string {
  if (ms !== lastDate.ms) lastDate = { ms, text: new Date(ms).toUTCString() };
  return lastDate.text;
}

/** A Last-Modified is sent only for a known time after the epoch (as Go's ServeContent). */
export function hasLastModified(v: Validators): boolean {
  return v.mtime > 1000;
}

function etagList(header: string): string[] {
  return header.split(',').map((s) => s.trim()).filter((s) => s !== '');
}

/** 304 when the client's copy is current: If-None-Match first; If-Modified-Since only without it. */
export function notModified(c: Conditions, v: Validators): boolean {
  if (c.ifNoneMatch) {
    return etagList(c.ifNoneMatch).some((t) => t === '*' || t.replace(/^W\//, '') === v.etag);
  }
  if (c.ifModifiedSince && hasLastModified(v)) {
    const since = Date.parse(c.ifModifiedSince);
    // Go: modtime before (IMS + 1 s) means not modified (HTTP dates have second resolution).
    if (!Number.isNaN(since) && v.mtime < since + 1000) return true;
  }
  return false;
}

/** Whether a Range may be honoured: without If-Range always; with it only when it still matches. */
export function rangeAllowed(c: Conditions, v: Validators): boolean {
  const ir = c.ifRange?.trim();
  if (!ir) return true;
  if (ir.startsWith('"') || ir.startsWith('W/')) return ir === v.etag; // strong comparison only
  const at = Date.parse(ir);
  return hasLastModified(v) && !Number.isNaN(at) && Math.floor(v.mtime / 1000) === Math.floor(at / 1000);
}

/** ETag of a stored object: size and record timestamp (every write stamps a new one). */
export function objectEtag(size: number, sec: number, nsec: number): string {
  return `"${size.toString(16)}-${sec.toString(16)}-${nsec.toString(16)}"`;
}
