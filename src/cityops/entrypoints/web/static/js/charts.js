// ECharts with the product's look: one palette, CJK-capable fonts, charts that follow their
// container's size. Pages build their own options and pass them through chart().set().
import * as echarts from "echarts";

export const FONT = '"PingFang SC", "Noto Sans CJK SC", "WenQuanYi Micro Hei", "Microsoft YaHei", sans-serif';

export const DARK = {
  text: "#b8cce6",
  muted: "#6f86a6",
  line: "rgba(120, 170, 230, 0.16)",
  palette: ["#35d0ff", "#3ee0a8", "#ffc648", "#ff6b6b", "#a58bff", "#4d8dff", "#ff9f43"],
};

/** A chart in `el` that resizes with it; set(option) merges like echarts' setOption. */
export function chart(el, theme = DARK) {
  const instance = echarts.init(el, null, { renderer: "canvas" });
  const base = {
    color: theme.palette,
    textStyle: { fontFamily: FONT, color: theme.text },
    animationDuration: 600,
    animationDurationUpdate: 500,
  };
  new ResizeObserver(() => instance.resize()).observe(el);
  return {
    instance,
    set(option, replace = false) {
      instance.setOption({ ...base, ...option }, { notMerge: replace, lazyUpdate: true });
    },
  };
}

/** The shared pieces of a cartesian chart on the dark theme. */
export function axes(theme = DARK) {
  const axisLabel = { color: theme.muted, fontFamily: FONT, fontSize: 13 };
  return {
    grid: { left: 8, right: 12, top: 36, bottom: 4, containLabel: true },
    tooltip: {
      trigger: "axis",
      backgroundColor: "rgba(6, 20, 44, 0.92)",
      borderColor: "rgba(53, 208, 255, 0.4)",
      textStyle: { color: "#e6f1ff", fontFamily: FONT },
    },
    legend: {
      top: 0,
      right: 0,
      itemWidth: 14,
      itemHeight: 8,
      textStyle: { color: theme.text, fontFamily: FONT, fontSize: 13 },
    },
    category: {
      type: "category",
      axisLine: { lineStyle: { color: theme.line } },
      axisTick: { show: false },
      axisLabel,
    },
    value: {
      type: "value",
      splitLine: { lineStyle: { color: theme.line } },
      axisLabel,
      minInterval: 1,
    },
  };
}

/** A vertical gradient for area and bar fills. */
export function gradient(top, bottom) {
  return new echarts.graphic.LinearGradient(0, 0, 0, 1, [
    { offset: 0, color: top },
    { offset: 1, color: bottom },
  ]);
}

export function hgradient(left, right) {
  return new echarts.graphic.LinearGradient(0, 0, 1, 0, [
    { offset: 0, color: left },
    { offset: 1, color: right },
  ]);
}
