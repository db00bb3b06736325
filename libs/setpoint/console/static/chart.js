// The key's timeline as inline SVG: one lane per kind of fact, one mark per fact.
import { s, clock } from "./dom.js";

const LANES = ["target", "decision", "order", "fill", "condition"];
const WIDTH = 960, LANE = 28, LEFT = 84, RIGHT = 16, TOP = 10, AXIS = 22;

export function timelineChart(marks) {
  const height = TOP + LANES.length * LANE + AXIS;
  const svg = s("svg", { id: "timeline", viewBox: `0 0 ${WIDTH} ${height}`, width: "100%", role: "img",
    "aria-label": "timeline of the key" });
  LANES.forEach((lane, i) => {
    const y = TOP + i * LANE + LANE / 2;
    svg.append(s("text", { x: 4, y: y + 4, class: "lane-label" }, lane),
      s("line", { x1: LEFT, x2: WIDTH - RIGHT, y1: y, y2: y, class: "lane-line" }));
  });
  if (!marks.length) {
    svg.append(s("text", { x: LEFT + 8, y: TOP + LANE * 2, class: "lane-label" }, "nothing recorded for this key yet"));
    return svg;
  }
  const times = marks.map((m) => Date.parse(m.at));
  const first = Math.min(...times), last = Math.max(...times);
  const span = Math.max(last - first, 1000);
  const x = (t) => LEFT + ((t - first) / span) * (WIDTH - LEFT - RIGHT - 8) + 4;
  marks.forEach((m, i) => {
    const lane = LANES.indexOf(m.lane);
    if (lane < 0) return;
    const y = TOP + lane * LANE + LANE / 2;
    const kind = m.state ? `${m.lane} ${m.state}` : `${m.lane} ${m.type}`;
    const mark = m.lane === "fill"
      ? s("rect", { x: x(times[i]) - 5, y: y - 5, width: 10, height: 10, class: `mark ${kind}` })
      : s("circle", { cx: x(times[i]), cy: y, r: 5, class: `mark ${kind}` });
    mark.setAttribute("data-lane", m.lane);
    mark.append(s("title", {}, `${clock(m.at)} ${m.type}: ${m.label}`));
    svg.append(mark);
  });
  const axisY = TOP + LANES.length * LANE + 14;
  svg.append(s("text", { x: LEFT, y: axisY, class: "axis" }, clock(new Date(first).toISOString())),
    s("text", { x: WIDTH - RIGHT, y: axisY, class: "axis", "text-anchor": "end" }, clock(new Date(last).toISOString())));
  return svg;
}
