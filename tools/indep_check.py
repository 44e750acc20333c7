"""An independent kymograph simulator (written without kymotrace.synth), to check generalisation.

Written in session 6 once, as a stand-in for the held-out generators we do not see, and not
tuned afterwards. It differs from kymotrace.synth by design: velocity that relaxes to a drive
(Ornstein-Uhlenbeck-like) for uni; a run / pause / diffusion Markov model with reversals for bi;
particles born at random times and places that end when they leave the image; one bleaching
rate per particle; a pixel-integrated Gaussian PSF (sigma 0.9-2.4 px); photon counts with
EMCCD-like gamma gain or sCMOS read noise plus an offset, as uint16; single-pixel spikes (hot
pixels / cosmic rays, --hot-rate); a background drifting in time, with a spatial ripple and
wide static blobs.

Usage: python tools/indep_check.py [--n 16] [--seed 100] [--hot-rate 1e-4]
"""
import numpy as np
from scipy.special import erf
from kymotrace.track import Track


def _profile(x, c, s):
    # pixel-integrated Gaussian
    a = (x - c + 0.5) / (np.sqrt(2) * s)
    b = (x - c - 0.5) / (np.sqrt(2) * s)
    return 0.5 * (erf(a) - erf(b))


def simulate(kind, rng, *, T=None, W=None, n=None, hot_rate=1e-4):
    T = T or int(rng.integers(150, 420))
    W = W or int(rng.integers(150, 450))
    n = n or int(rng.integers(6, 22))
    sig = rng.uniform(0.9, 2.4)
    photons = rng.uniform(60, 400)          # peak photons of a typical particle
    bg_ph = rng.uniform(5, 60)
    x = np.arange(W)
    img = np.zeros((T, W))
    tracks = []
    for k in range(n):
        t0 = int(rng.integers(-T // 2, T - 20))
        life = int(rng.integers(30, 2 * T))
        t1 = min(T, t0 + life)
        t0c = max(0, t0)
        if t1 - t0c < 15:
            continue
        pos = rng.uniform(0, W)
        if kind == "uni":
            v0 = rng.choice([-1, 1]) * np.exp(rng.normal(np.log(0.9), 0.6))
            v0 = float(np.clip(v0, -4, 4))
            state = 0
        else:
            v0 = rng.choice([-1, 1]) * np.exp(rng.normal(np.log(0.8), 0.6))
            state = int(rng.integers(0, 3))
        v = v0
        amp = photons * np.exp(rng.normal(0, 0.4))
        bleach = rng.uniform(0, 4.0 / T)
        fr, ps, gp = [], [], []
        for t in range(t0, t1):
            if kind == "bi":
                if rng.random() < 0.03:
                    state = int(rng.integers(0, 3))
                    if state == 0 and rng.random() < 0.4:
                        v0 = -v0
                if state == 0:
                    v = 0.85 * v + 0.15 * v0 + rng.normal(0, 0.15)
                elif state == 1:
                    v = 0.5 * v + rng.normal(0, 0.05)
                else:
                    v = rng.normal(0, 0.5)
            else:
                v = 0.9 * v + 0.1 * v0 + rng.normal(0, 0.08)
            pos += v
            if t < 0:
                continue
            if pos < 0 or pos > W - 1:
                break
            on = rng.random() > 0.03
            a = amp * np.exp(-bleach * (t - t0c)) * (1.0 if on else 0.0)
            img[t] += a * _profile(x, pos, sig)
            fr.append(t); ps.append(pos); gp.append(not on)
        if len(fr) >= 15:
            tracks.append(Track(len(tracks) + 1, frames=np.array(fr), positions=np.array(ps), gap=np.array(gp)))
    # background: drift in time, smooth in space, static blobs (immobile, dim and wide)
    bg = bg_ph * (1 + 0.3 * np.sin(np.linspace(0, rng.uniform(1, 4), W) + rng.uniform(0, 6)))[None, :]
    bg = bg * (1 + 0.2 * np.linspace(0, 1, T))[:, None] * np.exp(-np.linspace(0, rng.uniform(0, 1), T))[:, None]
    for _ in range(int(rng.integers(0, 4))):
        c, w = rng.uniform(0, W), rng.uniform(4, 15)
        bg = bg + photons * rng.uniform(0.1, 0.4) * np.exp(-0.5 * ((x - c) / w) ** 2)[None, :]
    lam = img + bg
    if rng.random() < 0.5:  # EMCCD: Poisson then gamma gain
        ph = rng.poisson(lam).astype(float)
        counts = rng.gamma(np.maximum(ph, 1e-9), 30.0) * (ph > 0) + rng.normal(0, 15, lam.shape) + 500
    else:  # sCMOS
        counts = rng.poisson(lam) * 2.0 + rng.normal(0, 3, lam.shape) + 100
    hot = rng.random(lam.shape) < hot_rate
    counts[hot] += 3000
    counts = np.clip(np.round(counts), 0, 65535).astype(np.uint16)
    return counts, tracks


def main(argv=None):
    """Score kymotrace (auto mode) on N kymographs per kind from this simulator."""
    import argparse

    from kymotrace.metrics import score
    from kymotrace.pipeline import analyze

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=16, help="kymographs per kind")
    ap.add_argument("--seed", type=int, default=100, help="first seed (uni: seed, bi: 1000 + seed)")
    ap.add_argument("--hot-rate", type=float, default=1e-4, help="share of pixels hit by a spike")
    args = ap.parse_args(argv)
    cols = ("recall", "precision", "f1", "gap", "crossing")
    for kind in ("uni", "bi"):
        rows, right = [], 0
        for i in range(args.n):
            img, gt = simulate(kind, np.random.default_rng(1000 * (kind == "bi") + args.seed + i), hot_rate=args.hot_rate)
            res = analyze(img)
            right += res.mode == kind
            sc = score(gt, res.tracks, img.shape).as_dict()
            rows.append([np.nan if sc[c] is None else sc[c] for c in cols])
        med = np.nanmedian(np.array(rows, float), axis=0)
        print(f"{kind}: n={args.n} mode right {right}/{args.n}; medians " + ", ".join(f"{c} {v:.3f}" for c, v in zip(cols, med)))


if __name__ == "__main__":
    main()
