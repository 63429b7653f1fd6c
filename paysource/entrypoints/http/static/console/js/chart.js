// A bar chart in hand-written SVG (docs/decisions.md): 30 days of two series need no
// library. Heights are computed from integer minor units; the chart is an image whose
// text alternative says what it shows (today's figures are in the cards above it).
import { svg } from "./dom.js";

const WIDTH = 720;
const HEIGHT = 220;
const PAD = { left: 8, right: 8, top: 12, bottom: 28 };

// days: [{ date: "2026-11-05", captured: 1234n, net: 1000n }] oldest first, amounts BigInt.
export function volumeChart(days, currency, label) {
  const max = days.reduce((m, d) => (d.captured > m ? d.captured : m), 1n);
  const plotWidth = WIDTH - PAD.left - PAD.right;
  const plotHeight = HEIGHT - PAD.top - PAD.bottom;
  const slot = plotWidth / Math.max(days.length, 1);
  const bar = Math.max(2, slot / 2 - 1);
  const scale = (amount) => (amount <= 0n ? 0 : Number((amount * 10000n) / max) / 10000 * plotHeight);
  const baseline = PAD.top + plotHeight;
  const children = [svg("title", {}, label)];
  days.forEach((day, i) => {
    const x = PAD.left + i * slot;
    for (const [series, offset] of [["captured", 0], ["net", bar + 1]]) {
      const height = scale(day[series]);
      children.push(svg("rect", {
        class: `bar-${series}`, x: (x + offset).toFixed(1), y: (baseline - height).toFixed(1),
        width: bar.toFixed(1), height: height.toFixed(1),
      }));
    }
    if (i % 5 === 0 || i === days.length - 1) {
      children.push(svg("text", { x: x.toFixed(1), y: HEIGHT - 8 }, day.date.slice(5)));
    }
  });
  children.push(svg("line", { class: "axis", x1: PAD.left, x2: WIDTH - PAD.right, y1: baseline, y2: baseline }));
  return svg("svg", {
    class: "chart", viewBox: `0 0 ${WIDTH} ${HEIGHT}`, role: "img", "aria-label": label,
    "data-currency": currency,
  }, children);
}
