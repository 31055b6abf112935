/**
 * Checks a webview's generated HTML against the rules every panel keeps: one Content-Security-
 * Policy meta tag before anything it governs; `default-src 'none'`; scripts only by nonce; no
 * 'unsafe-inline', 'unsafe-eval' or 'wasm-unsafe-eval' anywhere; no source but the webview's own
 * resource origin (`webview.cspSource`), 'self', nonces and hashes (so nothing remote can load);
 * every <script> carries the policy's nonce; no inline event handlers or javascript: URLs; no
 * src/href that points off the machine. Pure string code: the unit tests check the checker, the
 * in-host tests run it on the HTML each webview really generates. Returns the problems found
 * (empty when the page passes).
 */
export interface CspReport {
  problems: string[];
  /** The policy's directives, e.g. { 'default-src': ["'none'"], 'script-src': ["'nonce-abc'"] }. */
  directives: Record<string, string[]>;
  nonce?: string;
}

/**
 * `assetRoots`: URLs the extension's own built assets are served from (webview.asWebviewUri of
 * the localResourceRoots). VS Code for the web serves them from the workbench's own server, whose
 * origin is not in cspSource; a resource there is the extension's file, not a remote one.
 */
export function checkWebviewCsp(html: string, cspSource: string, assetRoots: string[] = []): CspReport {
  const problems: string[] = [];
  const metas = [...html.matchAll(/<meta\b[^>]*http-equiv\s*=\s*["']?content-security-policy["']?[^>]*>/gi)];
  if (metas.length !== 1) {
    return { problems: [`expected one Content-Security-Policy meta tag, found ${metas.length}`], directives: {} };
  }
  const meta = metas[0];
  const content = /\bcontent\s*=\s*"([^"]*)"/i.exec(meta[0])?.[1] ?? /\bcontent\s*=\s*'([^']*)'/i.exec(meta[0])?.[1];
  if (!content) return { problems: ['the Content-Security-Policy meta tag has no content'], directives: {} };
  const firstGoverned = html.search(/<(script|style|link|img|iframe|object|embed)\b/i);
  if (firstGoverned >= 0 && firstGoverned < meta.index!) problems.push('a script, style or resource comes before the Content-Security-Policy meta tag');

  const directives: Record<string, string[]> = {};
  for (const part of content.split(';')) {
    const [name, ...sources] = part.trim().split(/\s+/);
    if (!name) continue;
    if (directives[name.toLowerCase()]) problems.push(`directive ${name} appears twice`);
    directives[name.toLowerCase()] = sources;
  }
  const defaultSrc = directives['default-src'];
  if (!defaultSrc || defaultSrc.join(' ') !== "'none'") problems.push(`default-src must be 'none', is ${defaultSrc ? defaultSrc.join(' ') : 'missing'}`);

  const nonces = new Set<string>();
  for (const [name, sources] of Object.entries(directives)) {
    for (const src of sources) {
      const lower = src.toLowerCase();
      if (lower === "'unsafe-inline'" || lower === "'unsafe-eval'" || lower === "'wasm-unsafe-eval'" || lower === "'unsafe-hashes'") {
        problems.push(`${name} allows ${src}`);
        continue;
      }
      const nonce = /^'nonce-([^']+)'$/.exec(src);
      if (nonce) {
        nonces.add(nonce[1]);
        if (nonce[1].length < 16) problems.push(`${name}: nonce ${src} is shorter than 16 characters`);
        continue;
      }
      if (lower === "'none'" || lower === "'self'" || /^'sha(256|384|512)-[A-Za-z0-9+/=]+'$/.test(src)) continue;
      // webview.cspSource may hold several sources separated by spaces (VS Code for the web: the
      // extension's own server path and the CDN pattern).
      if (cspSource.split(/\s+/).includes(src)) continue;
      problems.push(`${name} allows ${src}, which is neither the webview's resource origin nor a nonce or hash`);
    }
  }
  const scriptSrc = directives['script-src'];
  if (scriptSrc && !scriptSrc.some((s) => s.startsWith("'nonce-"))) problems.push('script-src has no nonce');
  if (nonces.size > 1) problems.push(`the policy uses ${nonces.size} different nonces`);
  const nonce = [...nonces][0];

  for (const tag of html.matchAll(/<script\b([^>]*)>/gi)) {
    const n = /\bnonce\s*=\s*["']?([^"'\s>]+)/i.exec(tag[1])?.[1];
    if (!n) problems.push(`a <script> has no nonce: ${tag[0].slice(0, 80)}`);
    else if (n !== nonce) problems.push(`a <script> nonce does not match the policy's: ${tag[0].slice(0, 80)}`);
  }
  // Attributes inside tags only (scripts' own text may say "onclick" harmlessly).
  for (const tag of html.matchAll(/<[a-z][^>]*>/gi)) {
    const handler = /\s(on[a-z]+)\s*=/i.exec(tag[0]);
    if (handler) problems.push(`inline event handler ${handler[1]} in ${tag[0].slice(0, 80)}`);
    for (const attr of tag[0].matchAll(/\s(src|href|action|formaction|poster|data)\s*=\s*["']?([^"'\s>]+)/gi)) {
      const url = attr[2];
      if (/^javascript:/i.test(url)) problems.push(`javascript: URL in ${attr[1]}`);
      else if (/^(https?:|wss?:)?\/\//i.test(url) && !fromSource(url, cspSource) && !assetRoots.some((root) => url.startsWith(root.endsWith('/') ? root : `${root}/`))) problems.push(`remote resource ${attr[1]}="${url.slice(0, 80)}"`);
    }
  }
  return { problems, directives, nonce };
}

/** Whether a URL is served from a CSP source expression such as `https://*.vscode-cdn.net`. */
function fromSource(url: string, cspSource: string): boolean {
  return cspSource.split(/\s+/).filter(Boolean).some((source) => fromOneSource(url, source));
}

function fromOneSource(url: string, cspSource: string): boolean {
  const pattern = cspSource.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '[^/]+');
  return new RegExp(`^${pattern}(/|$)`, 'i').test(url);
}
