/**
 * The one place uPlot is used: a canvas chart that follows its container's width (ResizeObserver) and is
 * rebuilt when its options or data change. uPlot's stylesheet is imported here so Vite bundles it into
 * the console's CSS file (no inline style: the CSP is strict; uPlot sizes elements through the CSSOM, which
 * the CSP allows).
 */
import type { JSX } from 'preact';
import { useEffect, useRef } from 'preact/hooks';
import uPlot from 'uplot';
import 'uplot/dist/uPlot.min.css';

export interface UplotChartProps {
  /** Everything but the size, which the wrapper sets from the container. */
  readonly options: Omit<uPlot.Options, 'width' | 'height'>;
  readonly data: uPlot.AlignedData;
  readonly height: number;
  /** What the chart shows, for assistive technology (the canvas itself cannot be read). */
  readonly label: string;
}

export function UplotChart({ options, data, height, label }: UplotChartProps): JSX.Element {
  const container = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const element = container.current;
    if (element === null) return undefined;
    const width = (): number => Math.max(280, Math.floor(element.clientWidth));
    const chart = new uPlot({ ...options, width: width(), height }, data, element);
    const observer = new ResizeObserver(() => {
      if (chart.width !== width()) chart.setSize({ width: width(), height });
    });
    observer.observe(element);
    return () => {
      observer.disconnect();
      chart.destroy();
    };
  }, [options, data, height]);
  return <div class="uplot-chart" ref={container} role="img" aria-label={label} />;
}
