"""Steps the browser tests share: signing in, the contrast measurement, screenshots."""

from __future__ import annotations


def log_in(page, live_server, username: str, password: str) -> None:
    """Sign in through the login form and wait for the project list."""
    page.goto(f"{live_server.url}/accounts/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{live_server.url}/projects/")


AA = 4.5

# Text elements whose contrast is measured: controls, links, labels, table cells, notes,
# errors, keyboard hints, and the plots' SVG text (its "fill" is its colour).
CONTRAST_JS = """() => {
  const parse = (value) => {
    const m = value.match(/rgba?\\(([^)]+)\\)/);
    if (!m) return null;
    const p = m[1].split(/[ ,/]+/).filter(Boolean).map(Number);
    return [p[0], p[1], p[2], p.length > 3 ? p[3] : 1];
  };
  const over = (top, below) => {
    const a = top[3];
    return [0, 1, 2].map(i => top[i] * a + below[i] * (1 - a)).concat([1]);
  };
  const background = (el) => {
    const layers = [];
    for (let node = el; node && node.nodeType === 1; node = node.parentElement) {
      const style = getComputedStyle(node);
      if (style.backgroundImage !== "none") return null;  // a gradient: not measurable
      const colour = parse(style.backgroundColor);
      if (colour && colour[3] > 0) { layers.push(colour); if (colour[3] >= 1) break; }
      if (node.tagName === "svg") {
        const fill = node.querySelector(":scope > rect.blank");
        if (fill) { layers.push(parse(getComputedStyle(fill).fill)); break; }
      }
    }
    let result = parse(getComputedStyle(document.body).backgroundColor) || [255, 255, 255, 1];
    if (result[3] < 1) result = parse(getComputedStyle(document.documentElement).backgroundColor);
    for (let i = layers.length - 1; i >= 0; i--) result = over(layers[i], result);
    return result;
  };
  const luminance = (c) => {
    const [r, g, b] = c.slice(0, 3).map(v => v / 255)
      .map(v => v <= 0.04045 ? v / 12.92 : Math.pow((v + 0.055) / 1.055, 2.4));
    return 0.2126 * r + 0.7152 * g + 0.0722 * b;
  };
  const ratio = (a, b) => {
    const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
    return (x + 0.05) / (y + 0.05);
  };
  const selector = "button, .button, a, label, legend, summary, h1, h2, h3, p, li, td, th, kbd," +
    " .muted, .error, .badge, input[type=text], input:not([type]), textarea, select," +
    " .plot text:not(.on-cell)";
  const failures = [];
  let measured = 0;
  for (const el of document.querySelectorAll(selector)) {
    const box = el.getBoundingClientRect();
    if (!box.width || !box.height || el.closest("[hidden], dialog:not([open])")) continue;
    if (el.disabled || el.closest("noscript")) continue;  // WCAG exempts disabled controls
    const style = getComputedStyle(el);
    if (style.visibility === "hidden" || style.display === "none") continue;
    const own = Array.from(el.childNodes).some(n => n.nodeType === 3 && n.data.trim());
    if (!own && !["INPUT", "SELECT", "TEXTAREA"].includes(el.tagName)) continue;
    const ink = parse(el instanceof SVGElement ? style.fill : style.color);
    const behind = background(el);
    if (!ink || !behind) continue;
    const opacity = Number(style.opacity);
    const seen = over([...ink.slice(0, 3), Math.min(opacity, 1) * ink[3]], behind);
    measured += 1;
    const value = ratio(seen, behind);
    if (value < %(aa)s) {
      const text = (el.textContent || el.value || "").trim().slice(0, 40);
      const name = el.className.baseVal ?? el.className;
      failures.push(`${el.tagName.toLowerCase()}.${name} "${text}" ${value.toFixed(2)}`);
    }
  }
  return {measured, failures: failures.slice(0, 15)};
}""".replace("%(aa)s", str(AA))


def shoot(page, path) -> None:
    """The whole page at its full height, so a sticky bar sits where it ends, not midway."""
    height = page.evaluate("document.documentElement.scrollHeight")
    width = page.viewport_size["width"]
    page.set_viewport_size({"width": width, "height": min(height, 12_000)})
    page.screenshot(path=str(path))
    page.set_viewport_size({"width": width, "height": 844 if width < 800 else 900})
