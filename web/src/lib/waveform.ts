// Waveforms of audio files, computed in the browser from the decoded audio.

/** The loudest absolute sample of each of `bars` equal slices of `samples` (0..1). */
export function peaks(samples: ArrayLike<number>, bars: number): number[] {
  const n = samples.length;
  if (n === 0 || bars <= 0) return [];
  const count = Math.min(bars, n);
  const out = new Array<number>(count);
  for (let b = 0; b < count; b++) {
    const start = Math.floor((b * n) / count);
    const end = Math.floor(((b + 1) * n) / count);
    let max = 0;
    for (let i = start; i < end; i++) {
      const v = Math.abs(samples[i]);
      if (v > max) max = v;
    }
    out[b] = Math.min(1, max);
  }
  return out;
}

/** Bar heights (1..height) for drawing, scaled so the loudest bar fills the height (library
 * audio is loudness-normalized, so its peaks are well below full scale); silence stays a
 * 1-unit line. */
export function barHeights(p: number[], height = 100): number[] {
  const top = Math.max(0, ...p);
  const scale = top > 0 ? height / top : 0;
  return p.map((v) => Math.max(1, Math.round(v * scale)));
}

export interface Decoded {
  peaks: number[];
  duration: number;
}

/** Fetch (with the session cookie) and decode an audio file; its peaks and duration. */
export async function loadWaveform(url: string, bars: number): Promise<Decoded> {
  const resp = await fetch(url, { credentials: "same-origin" });
  if (!resp.ok) throw new Error(`HTTP ${resp.status}`);
  const data = await resp.arrayBuffer();
  // An offline context decodes without an audio device (and without a user gesture).
  const ctx = new OfflineAudioContext(1, 1, 8000);
  const audio = await ctx.decodeAudioData(data);
  return { peaks: peaks(audio.getChannelData(0), bars), duration: audio.duration };
}
