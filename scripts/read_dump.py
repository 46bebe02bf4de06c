#!/usr/bin/python3
"""Load an attnlab attention dump (attention.h5) into numpy, and summarise it.

    /usr/bin/python3 scripts/read_dump.py results/default/<run>/attention.h5

Uses Debian's python3-h5py and python3-numpy (hence /usr/bin/python3, not a pyenv python).
The layout is documented in docs/recording.md and defined in
dump/dump_schema.h. In a notebook, the essentials are:

    import h5py
    f = h5py.File(path, "r")
    n = complete_snapshots(f)                 # complete snapshots (crash-safe; see below)
    steps = f["steps"][:n]                    # [N] training step of each snapshot
    maps = f["layers/00/maps"][:n]            # [N, B, H, Tq, Tk] float16 attention maps A
    one = f["layers/00/maps"][n - 1, 0, 2]    # one (sample, head) map [Tq, Tk]: reads one chunk
    entropy = f["layers/00/entropy"][:n]      # [N, H] per-head statistics
    role = f["layers/00"].attrs["role"]       # encoder_self, decoder_self or cross (schema 2)
    kind = f["layers/00"].attrs["map_kind"]   # distribution, partial, unnormalised, signed (3)
    mass = f["layers/00/row_mass"][:n]        # [N, H] mean row sum of A (schema 3)
    config = f.attrs["config"]                # the run's resolved config (TOML text)

A map of kind other than distribution is not a probability distribution: its statistics describe
|A_ij| / sum_l |A_il| and its row mass is kept in row_mass and row_abs_mass (docs/recording.md).
"""
import sys

import h5py
import numpy as np

STEP_FILL = -1  # dump_schema.h kStepFill: a /steps entry whose snapshot was never committed
ROW_MASSES = ("row_mass", "row_abs_mass")  # schema 3; 1 in older dumps (distributions only)


def complete_snapshots(f):
    """Snapshots that were completed, as the C++ reader counts them.

    After a crash, datasets other than /steps may hold one partial snapshot more; /steps holds only
    committed steps (strictly increasing, never the fill value)."""
    steps = f["steps"][:]
    n = 0
    while n < len(steps) and steps[n] != STEP_FILL and (n == 0 or steps[n] > steps[n - 1]):
        n += 1
    growing = [f["probe_loss"]]
    for index in range(int(f.attrs["layers"])):
        group = f[f"layers/{index:02d}"]
        growing += [group[name] for name in group if name != "allowed_keys"]
    return min([n] + [dataset.shape[0] for dataset in growing])


def layer_roles(f):
    """Role of every layer: encoder_self, decoder_self or cross, as the C++ reader gives them.

    Schema 1 dumps did not store it: an encoder-decoder model's encoder self-attention layers come
    first, then per decoder block its self- and cross-attention; other models have one stack."""
    groups = [f[f"layers/{index:02d}"] for index in range(int(f.attrs["layers"]))]
    if int(f.attrs["schema_version"]) >= 2:
        return [str(group.attrs["role"]) for group in groups]
    kinds = [str(group.attrs["kind"]) for group in groups] + [None]
    single = "encoder_self" if f.attrs.get("arch") == "encoder" else "decoder_self"
    if "cross" not in kinds:
        return [single] * len(groups)
    return ["cross" if kind == "cross" else "decoder_self" if after == "cross" else "encoder_self"
            for kind, after in zip(kinds, kinds[1:])]


def layer_map_kinds(f):
    """Map kind of every layer, as the C++ reader gives them: stored since schema 3; the maps of
    older dumps are distributions."""
    groups = [f[f"layers/{index:02d}"] for index in range(int(f.attrs["layers"]))]
    if int(f.attrs["schema_version"]) >= 3:
        return [str(group.attrs["map_kind"]) for group in groups]
    return ["distribution"] * len(groups)


def load(path):
    """Maps, statistics and probe of every complete snapshot, as numpy arrays."""
    with h5py.File(path, "r") as f:
        n = complete_snapshots(f)
        dump = {
            "attributes": dict(f.attrs),
            "steps": f["steps"][:n],
            "probe_loss": f["probe_loss"][:n],
            "probe": {name: f["probe"][name][:] for name in f["probe"]},
            "layers": [],
        }
        for index, (role, kind) in enumerate(zip(layer_roles(f), layer_map_kinds(f))):
            group = f[f"layers/{index:02d}"]
            layer = {"attributes": dict(group.attrs), "role": role, "map_kind": kind,
                     "allowed_keys": group["allowed_keys"][:]}
            for name in group:
                if name != "allowed_keys":
                    layer[name] = group[name][:n]
            for name in ROW_MASSES:  # an older dump: the masses of its distributions
                layer.setdefault(name, np.ones((n, int(group.attrs["heads"])), np.float32))
            dump["layers"].append(layer)
    return dump


def main(path):
    dump = load(path)
    attributes = dump["attributes"]
    steps = dump["steps"]
    print(f"{path}: schema {attributes['schema_version']}, attnlab "
          f"{attributes['attnlab_version']} ({attributes['git_commit']}), "
          f"variant {attributes['variant']}, task {attributes['task']}")
    print(f"{len(steps)} complete snapshots at steps {steps.tolist()}; probe of "
          f"{attributes['samples']} examples, loss {dump['probe_loss'][0]:.4f} -> "
          f"{dump['probe_loss'][-1]:.4f}" if len(steps) else "0 complete snapshots")
    for index, layer in enumerate(dump["layers"]):
        info = layer["attributes"]
        print(f"\nlayers/{index:02d}: {info['kind']}-attention ({layer['role']}), "
              f"{info['heads']} heads, Tq={info['query_length']} Tk={info['key_length']}, "
              f"{layer['map_kind']} maps")
        if layer["map_kind"] != "distribution":
            print("  statistics of |A| row-normalised; row_mass, row_abs_mass and output_norm of A")
        if "maps" in layer:
            maps = layer["maps"].astype(np.float64)  # [N, B, H, Tq, Tk]
            sums = maps.sum(-1) if maps.size else np.zeros(1)
            if layer["map_kind"] == "distribution":
                detail = f"largest |row sum - 1| {np.abs(sums - 1).max():.1e}"
            else:
                detail = f"row sums from {sums.min():.3f} to {sums.max():.3f}"
            print(f"  maps {layer['maps'].dtype} {list(maps.shape)}; {detail}")
        if len(steps):
            names = [name for name in ("entropy", "entropy_normalised", "confidence", "distance",
                                       "previous_mass", "k90", "row_mass", "output_norm",
                                       "importance")
                     if name in layer]
            print("  last snapshot, per head: " + "  ".join(f"{name:>10.10}" for name in names))
            for head in range(int(info["heads"])):
                print(f"  head {head:<20}" + "  ".join(f"{layer[name][-1, head]:>10.4f}"
                                                      for name in names))
    return 0


if __name__ == "__main__":
    if len(sys.argv) != 2:
        print(__doc__, file=sys.stderr)
        sys.exit(2)
    sys.exit(main(sys.argv[1]))
