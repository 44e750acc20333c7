"""Print the shipped models' card figures as a Markdown table (for the README and notes)."""

from kymotrace.models import available_models, load_model

print("| model | parameters | size | steps | training min (CPU) | default threshold | validation (validation seeds) | CPU forward |")
print("|---|---|---|---|---|---|---|---|")
for name in available_models():
    lm = load_model(name)
    c = lm.card
    n = sum(p.numel() for p in lm.net.parameters())
    size = lm.path.stat().st_size / 1e6
    if lm.module in ("uni", "bi"):
        v = c.get("validation_at_default_threshold") or {k: c["validation"][k] for k in ("paper", "varied")}
        val = "; ".join(f"{s}: P {v[s]['precision']:.3f} R {v[s]['recall']:.3f}" for s in ("paper", "varied"))
        val = "thinned maps within 2 px at the default threshold — " + val
        if "threshold_tuning" in c:
            val += f"; pipeline track F1 at default {c['threshold_tuning']['sweep'][str(lm.threshold)]:.3f}"
        fwd = f"{c['validation']['forward_ms_cpu']:.0f} ms (300x300)"
    elif lm.module == "classifier":
        val = f"accuracy {c['validation']['accuracy']:.3f} (96 samples)"
        fwd = f"{c['validation']['forward_ms_cpu']:.0f} ms"
    else:
        v = c["validation"]
        val = f"correct continuations {v['correct']:.3f}, wrong branch {v['wrong']:.3f}, none {v['none']:.3f} ({v['n']} branch points)"
        fwd = f"{v['forward_ms_cpu']:.0f} ms (16 crops)"
    print(f"| {name} | {n:,} | {size:.1f} MB | {c['steps']} | {c['training_minutes']} | {lm.threshold:.2f} | {val} | {fwd} |")
