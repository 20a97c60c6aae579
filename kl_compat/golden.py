"""Golden outputs: the spec evaluated on the conformance matrix, stored as files any runtime can read.

Layout of conformance/goldens/ (format 1):
  samples.npz    the inputs: "<sample id>/input" and "<sample id>/target", in each dtype's storage
                 (float16 as <f2; bfloat16, which .npy cannot name, as <f4 holding bfloat16 values)
  expected.npz   per case with a value: "<case id>/value", "/grad_input", "/grad_target" (in the
                 result / operand dtype's storage; nan where undefined), "/grad_input_defined",
                 "/grad_target_defined" (bool masks, spec S9); for a double-backward case (call order 2)
                 also the four second derivatives "/grad2_<of>_<wrt>" (spec S10, in the dtype of the
                 operand differentiated against; nan where undefined)
  cases.json     per case: id, group, sample, call arguments, dtypes, and the expected outcome
                 ({"outcome": "value", dtype, shape, reduction, warnings} or {"outcome": "error", ...})
  manifest.json  format, case and sample counts, and the sha256 of each file above; "generated": per
                 sample too large to store (a million terms: the summation-accuracy cases), how to make
                 it again (kl_compat.generated: generator, seed, shapes, dtypes, space) and the sha256
                 of its arrays, checked wherever it is made (a worker included); such a sample is in
                 neither samples.npz nor, for its cases' gradients, expected.npz: the gradients are the
                 spec's, computed when a case is first judged (its value, a scalar, is stored)
.npz members are plain .npy arrays (no pickles); see npzio for why they are written by hand.
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from . import dtypes as _dt
from . import generated, npzio, spec
from .errors import KlCompatError

FORMAT = 1
MIN_CASES = 1000  # never green on empty: fewer cases than this means something failed to load
DATA_FILES = ("samples.npz", "expected.npz", "cases.json")
MANIFEST = "manifest.json"
GRAD_KEYS = ("grad_input", "grad_target", "grad_input_defined", "grad_target_defined")
SECOND_KEYS = spec.SECOND_KEYS  # S10's second derivatives, by name


class GoldenError(KlCompatError):
    """Stored goldens that are missing, corrupt, or out of step with the spec."""


def default_dir() -> Path:
    from kl_compat import conformance

    return Path(conformance.__file__).parent / "goldens"


@dataclass
class Expected:
    outcome: str  # "value" or "error"
    dtype: str | None = None
    shape: tuple[int, ...] | None = None
    reduction: str | None = None
    warnings: tuple[str, ...] = ()
    error: str | None = None  # the spec's exception class name
    message: str | None = None
    value: np.ndarray | None = None  # in the result dtype's storage
    grad_input: np.ndarray | None = None
    grad_target: np.ndarray | None = None
    grad_input_defined: np.ndarray | None = None
    grad_target_defined: np.ndarray | None = None
    second: dict[str, np.ndarray] | None = None  # SECOND_KEYS -> array, for double-backward cases only


@dataclass
class GoldenCase:
    id: str
    group: str
    sample: str
    call: spec.Call
    input_dtype: str
    target_dtype: str
    input: np.ndarray  # in the input dtype's storage
    target: np.ndarray
    expected: Expected | None  # None only where loaded without (load(expected=False))

    @property
    def expects(self) -> Expected:
        """The expectation, for code that judges a case (a case loaded without one raises GoldenError)."""
        if self.expected is None:
            raise GoldenError(f"golden case {self.id}: loaded without its expected outcome (load(expected=False))")
        return self.expected


# ---- computing ----------------------------------------------------------------------------------------

def expectation(x, y, call: spec.Call, input_dtype: str, target_dtype: str) -> Expected:
    """The spec's expectation for one call: the one place goldens, reproducers and fuzz cases get it."""
    try:
        r = spec.reference(x, y, call, input_dtype, target_dtype)
    except spec.SpecError as e:
        return Expected("error", error="TypeError" if isinstance(e, TypeError) else "ValueError", message=str(e))
    return Expected("value", dtype=r.dtype, shape=tuple(r.value.shape), reduction=r.reduction,
                    warnings=tuple(r.warnings), value=r.rounded(),
                    grad_input=_dt.round_to(r.grad_input, input_dtype),
                    grad_target=_dt.round_to(r.grad_target, target_dtype),
                    grad_input_defined=r.grad_input_defined, grad_target_defined=r.grad_target_defined,
                    second=_second(x, y, call, input_dtype, target_dtype) if call.order == 2 else None)


def _second(x, y, call: spec.Call, input_dtype: str, target_dtype: str) -> dict[str, np.ndarray]:
    """S10's four second derivatives, each rounded to the dtype of the operand it is taken against."""
    s = spec.second_derivatives(x, y, call)
    arrays = (*s.of_grad_input, *s.of_grad_target)
    return {k: _dt.round_to(a, input_dtype if k.endswith("_input") else target_dtype)
            for k, a in zip(SECOND_KEYS, arrays)}


def make_case(case_id: str, x, y, call: spec.Call, input_dtype: str, target_dtype: str, *, group: str = "repro",
              sample: str | None = None) -> GoldenCase:
    """A GoldenCase for any inputs (values already representable in their dtypes), expectation computed now;
    outside the matrix (group "repro" unless named), its sample named by the case id unless named."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    return GoldenCase(case_id, group, sample or case_id, call, input_dtype, target_dtype, _dt.storage_array(x, input_dtype),
                      _dt.storage_array(y, target_dtype), expectation(x, y, call, input_dtype, target_dtype))


def _record_parts(e: Expected) -> tuple[dict, dict[str, np.ndarray]]:
    """An Expected as cases.json metadata and the arrays stored in expected.npz."""
    if e.outcome == "error":
        return {"outcome": "error", "error": e.error, "message": e.message}, {}
    meta = {"outcome": "value", "dtype": e.dtype, "shape": list(e.shape or ()), "reduction": e.reduction,
            "warnings": list(e.warnings)}
    return meta, {**{k: getattr(e, k) for k in ("value", *GRAD_KEYS)}, **(e.second or {})}


def compute(cases) -> tuple[list[dict], dict[str, np.ndarray], dict[str, np.ndarray]]:
    records, samples, expected = [], {}, {}
    for case in cases:
        s = case.sample
        x, y = s.arrays
        made = s.values in generated.GENERATORS  # made again where loaded (see _Made), not stored
        if s.id not in samples and not made:
            samples[f"{s.id}/input"] = _dt.storage_array(x, s.input_dtype)
            samples[f"{s.id}/target"] = _dt.storage_array(y, s.target_dtype)
        meta, arrays = _record_parts(expectation(x, y, case.call, s.input_dtype, s.target_dtype))
        c = case.call
        grads = {k: getattr(c, k) for k in ("requires_grad", "order")  # written where not the default
                 if getattr(c, k) != getattr(spec.Call, k)}
        records.append({
            "id": case.id, "group": case.group, "sample": s.id,
            "call": {"reduction": c.reduction, "log_target": c.log_target,
                     "size_average": c.size_average, "reduce": c.reduce, **grads},
            "input_dtype": s.input_dtype, "target_dtype": s.target_dtype,
            "expected": meta,
        })
        expected.update({f"{case.id}/{k}": v for k, v in arrays.items() if not (made and k in GRAD_KEYS)})
    return records, samples, expected


def write(directory: Path | None = None, cases=None) -> dict:
    """Regenerate every golden file from the spec; returns the manifest. Byte-identical on every run."""
    from kl_compat.conformance.matrix import build_matrix

    directory = Path(directory or default_dir())
    cases = cases if cases is not None else build_matrix()
    records, samples, expected = compute(cases)
    npzio.write_npz(directory / "samples.npz", samples)
    npzio.write_npz(directory / "expected.npz", expected)
    npzio.atomic_write_text(directory / "cases.json", json.dumps(records, indent=1, allow_nan=False) + "\n")
    manifest = {
        "format": FORMAT,
        "cases": len(records),
        "samples": len(samples) // 2,
        "generated": generated_samples(cases),
        "files": {name: {"sha256": npzio.sha256_of(directory / name), "bytes": (directory / name).stat().st_size}
                  for name in DATA_FILES},
    }
    npzio.atomic_write_text(directory / MANIFEST, json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


# ---- loading and checking -----------------------------------------------------------------------------

def read_manifest(directory: Path | str) -> dict:
    path = Path(directory) / MANIFEST
    try:
        manifest = json.loads(path.read_text())
    except FileNotFoundError:
        raise GoldenError(f"{path}: missing; run `kl-compat golden` to generate the goldens") from None
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise GoldenError(f"{path}: not valid JSON ({e})") from None
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise GoldenError(f"{path}: format {manifest.get('format') if isinstance(manifest, dict) else '?'}"
                          f" is not {FORMAT}")
    return manifest


def verify_checksums(directory: Path | None = None) -> dict:
    directory = Path(directory or default_dir())
    manifest = read_manifest(directory)
    for name in DATA_FILES:
        path = directory / name
        if not path.exists():
            raise GoldenError(f"{path}: missing (listed in {MANIFEST})")
        want = manifest.get("files", {}).get(name, {}).get("sha256")
        got = npzio.sha256_of(path)
        if got != want:
            raise GoldenError(f"{path}: sha256 {got[:16]}... does not match {MANIFEST}'s {str(want)[:16]}...: "
                              "the file is corrupt or was edited; regenerate with `kl-compat golden`")
    return manifest


def manifest_digest(manifest: dict) -> str:
    """One checksum naming a set of goldens (reports and results carry it)."""
    return hashlib.sha256(json.dumps(manifest, sort_keys=True).encode()).hexdigest()


def load(directory: Path | str | None = None, *, min_cases: int = MIN_CASES, expected: bool = True) -> list[GoldenCase]:
    """Every golden case, with its arrays. Raises GoldenError naming the file at fault.

    `expected=False` skips the expected outputs (each case's `expected` is None): a worker process
    loads just the inputs, so that the runner can name a case instead of sending its arrays.
    """
    directory = Path(directory or default_dir())
    manifest = verify_checksums(directory)
    try:
        records = json.loads((directory / "cases.json").read_text())
        samples = npzio.read_npz(directory / "samples.npz")
        stored = npzio.read_npz(directory / "expected.npz") if expected else None
    except Exception as e:  # checksums matched, so this is a writer bug, still named by file
        raise GoldenError(f"{directory}: goldens unreadable: {type(e).__name__}: {e}") from None
    if len(records) != manifest.get("cases"):
        raise GoldenError(f"{directory / 'cases.json'}: {len(records)} cases, manifest says {manifest.get('cases')}")
    if len(records) < min_cases:
        raise GoldenError(f"{directory / 'cases.json'}: only {len(records)} cases loaded, expected at least {min_cases}")
    out: list[GoldenCase] = []
    made = _Made(manifest.get("generated") or {})
    for r in records:
        if r["sample"] in made.meta:
            out.append(_GeneratedCase(r, made, stored))
            continue
        out.append(GoldenCase(
            id=r["id"], group=r["group"], sample=r["sample"], call=spec.Call(**r["call"]),
            input_dtype=r["input_dtype"], target_dtype=r["target_dtype"],
            input=samples[f"{r['sample']}/input"], target=samples[f"{r['sample']}/target"],
            expected=None if stored is None else _expected(r, stored),
        ))
    return out


def _expected(record: dict, stored: dict[str, np.ndarray]) -> Expected:
    e = dict(record["expected"])
    if e["outcome"] == "value":
        e["shape"] = tuple(e["shape"])
        e["warnings"] = tuple(e["warnings"])
        e["value"] = stored[f"{record['id']}/value"]
        e.update({k: stored[f"{record['id']}/{k}"] for k in GRAD_KEYS})
        if record["call"].get("order", 1) == 2:
            e["second"] = {k: stored[f"{record['id']}/{k}"] for k in SECOND_KEYS}
    return Expected(**e)


def drift(directory: Path | None = None) -> list[str]:
    """The stored files that differ from what the spec generates now (empty when in step)."""
    directory = Path(directory or default_dir())
    with tempfile.TemporaryDirectory() as tmp:
        write(Path(tmp))
        return [name for name in (*DATA_FILES, MANIFEST)
                if not (directory / name).exists()
                or (directory / name).read_bytes() != (Path(tmp) / name).read_bytes()]


# ---- generated samples --------------------------------------------------------------------------------

def generated_samples(cases) -> dict[str, dict]:
    """The manifest's "generated": sample id -> how to make it again, and its arrays' sha256; checked
    here against the matrix's own arrays, so a golden never records a recipe that makes other inputs."""
    import zlib

    out: dict[str, dict] = {}
    for case in cases:
        s = case.sample
        if s.values not in generated.GENERATORS or s.id in out:
            continue
        meta = {"generator": s.values, "seed": zlib.crc32(s.id.encode()), "input_shape": list(s.input_shape),
                "target_shape": list(s.target_shape), "input_dtype": s.input_dtype, "target_dtype": s.target_dtype,
                "space": s.space}
        x, y = s.arrays
        arrays = (_dt.storage_array(x, s.input_dtype), _dt.storage_array(y, s.target_dtype))
        meta["sha256"] = _sha256(arrays)
        if _sha256(make_sample(meta)) != meta["sha256"]:
            raise GoldenError(f"generated sample {s.id}: its recipe does not make the matrix's arrays")
        out[s.id] = meta
    return out


def make_sample(meta: dict) -> tuple[np.ndarray, np.ndarray]:
    """A generated sample's (input, target) in their dtypes' storage, as the matrix makes them."""
    make = generated.GENERATORS[meta["generator"]]
    x, y = make(np.random.default_rng(meta["seed"]), tuple(meta["input_shape"]), tuple(meta["target_shape"]),
                meta["space"] == "log", dtype=meta["target_dtype"])
    return _dt.storage_array(_dt.round_to(x, meta["input_dtype"]), meta["input_dtype"]), \
        _dt.storage_array(_dt.round_to(y, meta["target_dtype"]), meta["target_dtype"])


def _sha256(arrays) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class _Made:
    """The generated samples of one load: made on first use, checked against the manifest, kept."""

    def __init__(self, meta: dict[str, dict]):
        self.meta = meta
        self._arrays: dict[str, tuple[np.ndarray, np.ndarray]] = {}

    def arrays(self, sample: str) -> tuple[np.ndarray, np.ndarray]:
        if sample not in self._arrays:
            meta = self.meta[sample]
            if meta.get("generator") not in generated.GENERATORS:
                raise GoldenError(f"generated sample {sample}: unknown generator {meta.get('generator')!r}")
            arrays = make_sample(meta)
            if _sha256(arrays) != meta.get("sha256"):
                raise GoldenError(f"generated sample {sample}: the inputs made here differ from those the goldens "
                                  "were made with (sha256); this NumPy draws other numbers: regenerate the goldens "
                                  "with `kl-compat golden` here, or use the NumPy they were made with")
            self._arrays[sample] = arrays
        return self._arrays[sample]


class _GeneratedCase(GoldenCase):
    """A golden case on a generated sample: its inputs are made, and its expected gradients computed from
    the spec, when first used (a worker that never observes it never makes them)."""

    def __init__(self, record: dict, made: _Made, stored: dict[str, np.ndarray] | None):
        self.id, self.group, self.sample = record["id"], record["group"], record["sample"]
        self.call = spec.Call(**record["call"])
        self.input_dtype, self.target_dtype = record["input_dtype"], record["target_dtype"]
        self._record, self._made_by, self._stored = record, made, stored

    @property
    def input(self) -> np.ndarray:  # type: ignore[override]
        return self._made_by.arrays(self.sample)[0]

    @property
    def target(self) -> np.ndarray:  # type: ignore[override]
        return self._made_by.arrays(self.sample)[1]

    @property
    def expected(self) -> Expected | None:  # type: ignore[override]
        if self._stored is None:
            return None
        if "_expected" not in self.__dict__:
            self.__dict__["_expected"] = _generated_expected(self._record, self._stored, self.input, self.target)
        return self.__dict__["_expected"]


def _generated_expected(record: dict, stored: dict[str, np.ndarray], x, y) -> Expected:
    """The stored value, and the gradients the spec gives (spec.reference's, for operands of one shape)."""
    e = dict(record["expected"])
    if e["outcome"] != "value":
        return Expected(**e)
    call = spec.Call(**record["call"])
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    divisor = spec.divisor_of(e["reduction"], x.size, x.shape)
    gx, gy, gx_ok, gy_ok = spec.gradients(x, y, call.log_target, divisor)
    return Expected(**{**e, "shape": tuple(e["shape"]), "warnings": tuple(e["warnings"])},
                    value=stored[f"{record['id']}/value"],
                    grad_input=_dt.round_to(gx, record["input_dtype"]), grad_target=_dt.round_to(gy, record["target_dtype"]),
                    grad_input_defined=~np.isnan(gx), grad_target_defined=~np.isnan(gy))
