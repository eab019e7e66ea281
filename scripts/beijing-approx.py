#!/usr/bin/env python3
"""Regenerates data/beijing-approx.geojson, the built-in coarse Beijing polygon.

    scripts/beijing-approx.py [REFERENCE] [OUTPUT]

REFERENCE defaults to ../shared/data/beijing-boundary.geojson (accurate, third-party, never
copied into the project); OUTPUT defaults to data/beijing-approx.geojson. Python 3 standard
library only; deterministic; takes about a minute.

The polygon errs *inward*, because a point it calls inside raises a blacklisted_entry case:

1. Rasterise: 0.005 degree cells whose whole square lies inside the reference and at least
   CLEARANCE_KM from its boundary (the reference's datum is unstated and may be GCJ-02, up to
   ~600 m off the WGS-84 positions terminals report).
2. Trace the outline of the largest 4-connected group of cells (corners of our own grid, none
   of the reference's vertices).
3. Simplify greedily: from each chosen corner, the farthest corner along the outline such that
   the edge keeps CLEARANCE_KM inside the reference, crosses no earlier edge, and passes within
   TOLERANCE_KM of every point of the reference boundary whose nearest outline corner it skips.
   TOLERANCE_KM is about the least that works: thin spurs of the boundary (e.g. near
   115.52 E 39.59 N) vanish in step 1, and their tips are over 4 km from anything left.

It then checks the result (simple ring, known places, clearance) and measures the inward
error: the farthest a point of the reference lies outside our polygon. That figure goes into
the file's properties; blacklisted_entry.near_boundary_km in config/rules.toml must be at
least it.
"""

import json
import math
import os
import sys

CELL_DEG = 0.005
CLEARANCE_KM = 0.6
TOLERANCE_KM = 4.5
SAMPLE_KM = 0.1
GRID_ORIGIN = (115.30, 39.30)
CENTRE = (116.40, 40.10)  # the projection's origin
KM_PER_DEG = 111.195
KX = KM_PER_DEG * math.cos(math.radians(CENTRE[1]))

KNOWN = [
    ("Tiananmen", 116.3975, 39.9087, True),
    ("Tianjin", 117.20, 39.12, False),
    ("Langfang", 116.70, 39.52, False),
    ("Zhuozhou", 115.97, 39.49, False),
    ("Yanqing", 115.97, 40.45, True),
    ("Miyun", 116.84, 40.37, True),
    ("Shijiazhuang", 114.51, 38.04, False),
]


def proj(p):
    return ((p[0] - CENTRE[0]) * KX, (p[1] - CENTRE[1]) * KM_PER_DEG)


def inside(pt, ring):
    x, y = pt
    c = False
    for i in range(len(ring)):
        xi, yi = ring[i]
        xj, yj = ring[i - 1]
        if (yi > y) != (yj > y) and x < xi + (y - yi) * (xj - xi) / (yj - yi):
            c = not c
    return c


def point_segment(p, a, b):
    dx, dy = b[0] - a[0], b[1] - a[1]
    l2 = dx * dx + dy * dy
    t = 0.0 if l2 == 0 else max(0.0, min(1.0, ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / l2))
    return math.hypot(a[0] + t * dx - p[0], a[1] + t * dy - p[1])


def cross(o, a, b):
    return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])


def segments_cross(a, b, c, d):
    """Proper crossing: touching at an end point does not count."""
    return cross(a, b, c) * cross(a, b, d) < 0 and cross(c, d, a) * cross(c, d, b) < 0


def segment_segment(a, b, c, d):
    if segments_cross(a, b, c, d):
        return 0.0
    return min(point_segment(a, c, d), point_segment(b, c, d), point_segment(c, a, b),
               point_segment(d, a, b))


class Edges:
    """The reference's edges in 8 km buckets, for distance queries near a point."""

    def __init__(self, ring):
        self.ring = ring
        self.buckets = {}
        for i in range(len(ring)):
            a, b = ring[i - 1], ring[i]
            for key in self._keys(min(a[0], b[0]), min(a[1], b[1]), max(a[0], b[0]),
                                  max(a[1], b[1])):
                self.buckets.setdefault(key, []).append((a, b))

    @staticmethod
    def _keys(x0, y0, x1, y1):
        s = 8.0  # km per bucket side
        for i in range(math.floor(x0 / s), math.floor(x1 / s) + 1):
            for j in range(math.floor(y0 / s), math.floor(y1 / s) + 1):
                yield (i, j)

    def near(self, x0, y0, x1, y1):
        seen = set()
        for key in self._keys(x0, y0, x1, y1):
            for e in self.buckets.get(key, ()):
                if id(e) not in seen:
                    seen.add(id(e))
                    yield e

    def distance(self, p, within):
        """Distance from p to the nearest edge, or `within` if none is closer than that."""
        best = within
        for a, b in self.near(p[0] - within, p[1] - within, p[0] + within, p[1] + within):
            best = min(best, point_segment(p, a, b))
        return best

    def clear(self, a, b, clearance):
        """Whether segment a-b stays at least `clearance` from every edge."""
        for c, d in self.near(min(a[0], b[0]) - clearance, min(a[1], b[1]) - clearance,
                              max(a[0], b[0]) + clearance, max(a[1], b[1]) + clearance):
            if segment_segment(a, b, c, d) < clearance:
                return False
        return True


def raster(ref_deg, ref, edges):
    x0, y0 = GRID_ORIGIN
    lons = [p[0] for p in ref_deg]
    lats = [p[1] for p in ref_deg]
    ni = math.ceil((max(lons) - x0) / CELL_DEG) + 1
    nj = math.ceil((max(lats) - y0) / CELL_DEG) + 1
    half_diag = math.hypot(CELL_DEG * KX, CELL_DEG * KM_PER_DEG) / 2
    cells = set()
    for i in range(ni):
        for j in range(nj):
            c = proj((x0 + (i + 0.5) * CELL_DEG, y0 + (j + 0.5) * CELL_DEG))
            need = CLEARANCE_KM + half_diag
            if inside(c, ref) and edges.distance(c, need) >= need:
                cells.add((i, j))
    return cells


def outline(cells):
    """Counter-clockwise outline (interior on the left) of the largest 4-connected group, as
    grid corners; collinear corners dropped."""
    out = {}
    for i, j in cells:
        if (i, j - 1) not in cells:
            out.setdefault((i, j), []).append((i + 1, j))
        if (i + 1, j) not in cells:
            out.setdefault((i + 1, j), []).append((i + 1, j + 1))
        if (i, j + 1) not in cells:
            out.setdefault((i + 1, j + 1), []).append((i, j + 1))
        if (i - 1, j) not in cells:
            out.setdefault((i, j + 1), []).append((i, j))
    loops = []
    while out:
        start = min(out)
        loop = [start]
        prev, here = None, start
        while True:
            options = out[here]
            if len(options) == 1 or prev is None:
                nxt = options[0]
            else:
                # At a corner where two groups touch diagonally, turn left: keeps 4-connectivity.
                dx, dy = here[0] - prev[0], here[1] - prev[1]
                nxt = max(options, key=lambda o: dx * (o[1] - here[1]) - dy * (o[0] - here[0]))
            options.remove(nxt)
            if not options:
                del out[here]
            prev, here = here, nxt
            if here == start:
                break
            loop.append(here)
        loops.append(loop)
    loop = max(loops, key=lambda lp: (area(lp), min(lp)))
    keep = [p for k, p in enumerate(loop) if cross(loop[k - 1], p, loop[(k + 1) % len(loop)]) != 0]
    # Start at the westernmost, then southernmost corner, so the output does not depend on
    # the set's iteration order.
    first = keep.index(min(keep))
    return keep[first:] + keep[:first]


def area(ring):
    return sum(cross((0, 0), ring[k - 1], ring[k]) for k in range(len(ring))) / 2


def samples_along(ring, step_km):
    out = []
    for k in range(len(ring)):
        a, b = ring[k - 1], ring[k]
        m = max(1, math.ceil(math.hypot(b[0] - a[0], b[1] - a[1]) / step_km))
        out += [(a[0] + (b[0] - a[0]) * t / m, a[1] + (b[1] - a[1]) * t / m) for t in range(m)]
    return out


def simplify(corners, ref, edges):
    """Greedy: from each chosen corner, the farthest corner along the outline such that the
    edge keeps CLEARANCE_KM inside the reference, crosses no earlier edge, and passes within
    TOLERANCE_KM of every reference point whose nearest outline corner it skips."""
    pts = [proj(corner_deg(c)) for c in corners]
    n = len(pts)
    owned = [[] for _ in range(n)]
    buckets = {}
    for k, p in enumerate(pts):
        buckets.setdefault((math.floor(p[0] / 4), math.floor(p[1] / 4)), []).append(k)
    for s in samples_along(ref, SAMPLE_KM):
        bx, by = math.floor(s[0] / 4), math.floor(s[1] / 4)
        for reach in range(1, 100):
            near = [k for i in range(bx - reach, bx + reach + 1)
                    for j in range(by - reach, by + reach + 1) for k in buckets.get((i, j), ())]
            if near:
                break
        # The true nearest may sit one ring further out.
        near = [k for i in range(bx - reach - 1, bx + reach + 2)
                for j in range(by - reach - 1, by + reach + 2) for k in buckets.get((i, j), ())]
        owned[min(near, key=lambda k: (math.dist(s, pts[k]), k))].append(s)

    chosen = [0]
    i = 0
    while True:
        best = None
        for j in range(i + 1, n + 1):
            a, b = pts[i], pts[j % n]
            if any(point_segment(s, a, b) > TOLERANCE_KM
                   for k in range(i, j + 1) for s in owned[k % n]):
                break
            if not edges.clear(a, b, CLEARANCE_KM):
                continue
            drawn = [(pts[chosen[m - 1]], pts[chosen[m]]) for m in range(1, len(chosen) - 1)]
            if any(segments_cross(a, b, c, d) for c, d in drawn):
                continue
            best = j
        if best is None:
            sys.exit(f"no edge from outline corner {i} meets the tolerance")
        if best >= n:
            break
        chosen.append(best)
        i = best
    return [corners[k] for k in chosen]


def corner_deg(c):
    return (round(GRID_ORIGIN[0] + c[0] * CELL_DEG, 3), round(GRID_ORIGIN[1] + c[1] * CELL_DEG, 3))


def check_simple(ring):
    n = len(ring)
    for k in range(n):
        for m in range(k + 2, n):
            if k == 0 and m == n - 1:
                continue
            if segments_cross(ring[k], ring[(k + 1) % n], ring[m], ring[(m + 1) % n]):
                sys.exit(f"simplified ring crosses itself at edges {k} and {m}")


def unproj(q):
    return (CENTRE[0] + q[0] / KX, CENTRE[1] + q[1] / KM_PER_DEG)


def distance_km(p, ring_deg):
    """As `Boundary::distance_km`: projected around the point itself."""
    kx = KM_PER_DEG * math.cos(math.radians(p[1]))
    local = [((x - p[0]) * kx, (y - p[1]) * KM_PER_DEG) for x, y in ring_deg]
    return min(point_segment((0.0, 0.0), local[k - 1], local[k]) for k in range(len(local)))


def inward_error(ours, ours_deg, ref):
    """Farthest point of the reference outside our polygon: sampled every SAMPLE_KM along the
    reference's edges (plus half that, for the points between samples) and on a 0.005 degree
    grid."""
    samples = samples_along(ref, SAMPLE_KM)
    xs = [p[0] for p in ref]
    ys = [p[1] for p in ref]
    step_x, step_y = CELL_DEG * KX, CELL_DEG * KM_PER_DEG
    x = min(xs)
    while x <= max(xs):
        y = min(ys)
        while y <= max(ys):
            if inside((x, y), ref):
                samples.append((x, y))
            y += step_y
        x += step_x
    worst, where = 0.0, None
    for p in samples:
        if not inside(p, ours):
            d = distance_km(unproj(p), ours_deg)
            if d > worst:
                worst, where = d, unproj(p)
    return worst + SAMPLE_KM / 2, where


def main():
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    reference = sys.argv[1] if len(sys.argv) > 1 else os.path.join(
        root, "..", "shared", "data", "beijing-boundary.geojson")
    output = sys.argv[2] if len(sys.argv) > 2 else os.path.join(root, "data",
                                                                "beijing-approx.geojson")
    if not os.path.exists(reference):
        sys.exit(f"reference boundary absent ({reference}): nothing regenerated; the checked-in "
                 "data/beijing-approx.geojson stays as it is (pass the reference's path as "
                 "the first argument)")
    doc = json.load(open(reference, encoding="utf-8"))
    geometry = doc.get("geometry", doc)
    if geometry["type"] != "Polygon":
        sys.exit("expected a Feature or Polygon with one outer ring")
    ref_deg = [tuple(p[:2]) for p in geometry["coordinates"][0]]
    if ref_deg[0] == ref_deg[-1]:
        ref_deg.pop()
    ref = [proj(p) for p in ref_deg]
    edges = Edges(ref)

    corners = outline(raster(ref_deg, ref, edges))
    ring_deg = [corner_deg(c) for c in simplify(corners, ref, edges)]
    ring = [proj(p) for p in ring_deg]

    check_simple(ring)
    for k in range(len(ring)):
        if not inside(ring[k], ref) or not edges.clear(ring[k - 1], ring[k], CLEARANCE_KM):
            sys.exit(f"edge {k} does not keep {CLEARANCE_KM} km inside the reference")
    for name, lon, lat, expected in KNOWN:
        if inside(proj((lon, lat)), ring) != expected:
            sys.exit(f"{name} is on the wrong side")
    error, where = inward_error(ring, ring_deg, ref)
    error_up = math.ceil(error * 10) / 10

    properties = {
        "name": "Beijing municipality (approximate, errs inward)",
        "vertices": len(ring_deg),
        "method": (
            f"Written by the tailwatch project with scripts/beijing-approx.py: the outline of the "
            f"{CELL_DEG} degree grid cells lying at least {CLEARANCE_KM} km inside an accurate "
            f"municipal boundary, simplified to edges that keep {CLEARANCE_KM} km inside the "
            f"boundary and pass within {TOLERANCE_KM} km of the boundary points they cut off. "
            f"Vertices are corners of that grid, none taken from the boundary file."
        ),
        "errs": "inward: every point inside this polygon is inside Beijing, by at least "
                f"{CLEARANCE_KM} km (room for the accurate boundary's unstated datum)",
        "inward_error_km": error_up,
        "inward_error_note": (
            f"parts of Beijing up to {error_up} km from this polygon's edge lie outside it; "
            "blacklisted_entry.near_boundary_km must be at least this"
        ),
        "use": "Default for demos and tests. Production deployments set "
               "blacklisted_entry.boundary to an accurate boundary file.",
        "datum": "WGS-84 intended; not surveyed",
    }
    coords = ",\n".join(f"[{lon}, {lat}]" for lon, lat in ring_deg + ring_deg[:1])
    with open(output, "w", encoding="utf-8") as f:
        f.write('{"type": "Feature", "properties": ' + json.dumps(properties, ensure_ascii=False)
                + ', "geometry": {"type": "Polygon", "coordinates": [[\n' + coords + "]]}}\n")
    print(f"{output}: {len(ring_deg)} vertices, inward error up to {error:.3f} km "
          f"(at {where[0]:.4f} E {where[1]:.4f} N), documented as {error_up} km")


if __name__ == "__main__":
    main()
