// The alert sound: two short tones made with WebAudio (no audio file), only after the operator
// enabled it for the session (a click: browsers let a page sound only after a gesture).

let context = null;

export function soundAvailable() {
  return typeof window !== "undefined" && Boolean(window.AudioContext || window.webkitAudioContext);
}

/** Make (or wake) the audio context; call from the click that enables the sound. */
export async function enableSound() {
  if (!soundAvailable()) return false;
  if (!context) context = new (window.AudioContext || window.webkitAudioContext)();
  if (context.state === "suspended") await context.resume();
  return context.state === "running";
}

/** The alert chime: 880 Hz then 660 Hz, 180 ms each, soft edges; `quiet` for the test tone. */
export function chime({ quiet = false } = {}) {
  if (!context || context.state !== "running") return false;
  const start = context.currentTime + 0.02;
  const peak = quiet ? 0.08 : 0.25;
  [880, 660].forEach((frequency, i) => {
    const osc = context.createOscillator();
    const gain = context.createGain();
    osc.type = "sine";
    osc.frequency.value = frequency;
    const t0 = start + i * 0.2;
    gain.gain.setValueAtTime(0.0001, t0);
    gain.gain.exponentialRampToValueAtTime(peak, t0 + 0.02);
    gain.gain.exponentialRampToValueAtTime(0.0001, t0 + 0.18);
    osc.connect(gain).connect(context.destination);
    osc.start(t0);
    osc.stop(t0 + 0.2);
  });
  return true;
}
