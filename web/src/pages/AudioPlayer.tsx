// A player for one audio file with its waveform beside it: the played part is shaded, and a
// click on the waveform jumps there.
import { useEffect, useRef, useState } from "react";
import { errorText } from "../lib/api";
import { T } from "../lib/text";
import { barHeights, loadWaveform } from "../lib/waveform";

const BARS = 120;

export function Waveform(props: {
  name: string;
  url: string;
  progress: number;
  onSeek?: (fraction: number) => void;
}) {
  const [bars, setBars] = useState<number[] | null>(null);
  const [error, setError] = useState("");
  useEffect(() => {
    let alive = true;
    loadWaveform(props.url, BARS)
      .then((w) => alive && setBars(barHeights(w.peaks)))
      .catch((e) => alive && setError(errorText(e)));
    return () => {
      alive = false;
    };
  }, [props.url]);
  if (error)
    return (
      <span className="error" role="alert">
        {error}
      </span>
    );
  if (!bars) return <span className="muted">{T.audio.decoding}</span>;
  const played = props.progress * bars.length;
  return (
    <svg
      className="waveform"
      role="img"
      aria-label={T.audio.waveformOf(props.name)}
      data-testid={`waveform-${props.name}`}
      viewBox={`0 0 ${bars.length} 100`}
      preserveAspectRatio="none"
      onClick={(e) => {
        const box = e.currentTarget.getBoundingClientRect();
        if (box.width > 0) props.onSeek?.((e.clientX - box.left) / box.width);
      }}
    >
      {bars.map((h, i) => (
        <rect
          key={i}
          x={i + 0.15}
          width={0.7}
          y={(100 - h) / 2}
          height={h}
          className={i < played ? "played" : undefined}
        />
      ))}
    </svg>
  );
}

export function AudioPlayer(props: { name: string; url: string; testId: string }) {
  const ref = useRef<HTMLAudioElement>(null);
  const [progress, setProgress] = useState(0);
  return (
    <span className="player">
      <audio
        ref={ref}
        controls
        autoPlay
        src={props.url}
        data-testid={props.testId}
        onTimeUpdate={(e) => {
          const a = e.currentTarget;
          setProgress(a.duration > 0 ? a.currentTime / a.duration : 0);
        }}
      />
      <Waveform
        name={props.name}
        url={props.url}
        progress={progress}
        onSeek={(f) => {
          const a = ref.current;
          if (a && a.duration > 0) a.currentTime = f * a.duration;
        }}
      />
    </span>
  );
}
