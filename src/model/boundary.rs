//! A boundary as data (the Beijing municipal boundary, an alert's area): point-in-polygon with a
//! bounding-box pre-check, and distance to the boundary so evidence near it can be marked.
//!
//! Pure. Parsing takes GeoJSON text; reading the file is the config loader's job.

use serde_json::Value;

/// The built-in approximate polygon (85 vertices, written by this project with
/// `scripts/beijing-approx.py`; see the file's `properties`). It errs inward, because a point it
/// calls inside raises a case: all of it lies at least 0.6 km inside the municipal boundary
/// (room for the accurate boundary's unstated datum), and parts of Beijing up to 4.6 km from its
/// edge lie outside it (`inward_error_km`). So `blacklisted_entry.near_boundary_km` must be at
/// least that while this polygon is in use. Deployments point `blacklisted_entry.boundary` at an
/// accurate file.
pub const APPROXIMATE_GEOJSON: &str = include_str!("../../data/beijing-approx.geojson");

#[derive(Debug, Clone, PartialEq)]
pub struct Boundary {
    /// Closed rings (first vertex not repeated) of (lon, lat); holes are rings too, and
    /// even-odd crossing handles them.
    rings: Vec<Vec<(f64, f64)>>,
    /// min lon, min lat, max lon, max lat.
    bbox: [f64; 4],
}

impl Default for Boundary {
    fn default() -> Self {
        Boundary::from_geojson(APPROXIMATE_GEOJSON).expect("built-in boundary is valid GeoJSON")
    }
}

fn ring(value: &Value) -> Result<Vec<(f64, f64)>, String> {
    let points = value
        .as_array()
        .ok_or("a ring must be an array of positions")?;
    let mut ring = points
        .iter()
        .map(|p| match p.as_array().map(Vec::as_slice) {
            Some([lon, lat, ..]) => match (lon.as_f64(), lat.as_f64()) {
                (Some(lon), Some(lat)) => Ok((lon, lat)),
                _ => Err("a position must be [lon, lat] numbers".to_owned()),
            },
            _ => Err("a position must be [lon, lat]".to_owned()),
        })
        .collect::<Result<Vec<_>, _>>()?;
    if ring.len() > 1 && ring.first() == ring.last() {
        ring.pop();
    }
    if ring.len() < 3 {
        return Err("a ring needs at least 3 vertices".to_owned());
    }
    Ok(ring)
}

impl Boundary {
    /// Accepts a Feature, FeatureCollection (first feature), Polygon or MultiPolygon.
    pub fn from_geojson(text: &str) -> Result<Boundary, String> {
        let doc: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
        let geometry = match doc["type"].as_str() {
            Some("FeatureCollection") => &doc["features"][0]["geometry"],
            Some("Feature") => &doc["geometry"],
            _ => &doc,
        };
        let coordinates = &geometry["coordinates"];
        let polygons: Vec<&Value> = match geometry["type"].as_str() {
            Some("Polygon") => vec![coordinates],
            Some("MultiPolygon") => coordinates
                .as_array()
                .ok_or("MultiPolygon coordinates must be an array")?
                .iter()
                .collect(),
            other => return Err(format!("expected a Polygon or MultiPolygon, got {other:?}")),
        };
        let mut rings = Vec::new();
        for polygon in polygons {
            for r in polygon
                .as_array()
                .ok_or("polygon coordinates must be an array")?
            {
                rings.push(ring(r)?);
            }
        }
        if rings.is_empty() {
            return Err("no rings".to_owned());
        }
        let mut bbox = [f64::MAX, f64::MAX, f64::MIN, f64::MIN];
        for &(lon, lat) in rings.iter().flatten() {
            bbox = [
                bbox[0].min(lon),
                bbox[1].min(lat),
                bbox[2].max(lon),
                bbox[3].max(lat),
            ];
        }
        Ok(Boundary { rings, bbox })
    }

    pub fn vertex_count(&self) -> usize {
        self.rings.iter().map(Vec::len).sum()
    }

    pub fn contains(&self, lon: f64, lat: f64) -> bool {
        let [x0, y0, x1, y1] = self.bbox;
        if lon < x0 || lon > x1 || lat < y0 || lat > y1 {
            return false;
        }
        let mut inside = false;
        for ring in &self.rings {
            let mut j = ring.len() - 1;
            for i in 0..ring.len() {
                let (xi, yi) = ring[i];
                let (xj, yj) = ring[j];
                if (yi > lat) != (yj > lat) && lon < xi + (lat - yi) * (xj - xi) / (yj - yi) {
                    inside = !inside;
                }
                j = i;
            }
        }
        inside
    }

    /// Distance in km from the point to the nearest boundary edge (equirectangular projection
    /// around the point: accurate to well under 1 % at this scale).
    pub fn distance_km(&self, lon: f64, lat: f64) -> f64 {
        const KM_PER_DEG: f64 = 111.195;
        let kx = KM_PER_DEG * lat.to_radians().cos();
        let project = |(x, y): (f64, f64)| ((x - lon) * kx, (y - lat) * KM_PER_DEG);
        let mut best = f64::MAX;
        for ring in &self.rings {
            let mut j = ring.len() - 1;
            for i in 0..ring.len() {
                let (ax, ay) = project(ring[j]);
                let (bx, by) = project(ring[i]);
                let (dx, dy) = (bx - ax, by - ay);
                let len2 = dx * dx + dy * dy;
                let t = if len2 == 0.0 {
                    0.0
                } else {
                    (-(ax * dx + ay * dy) / len2).clamp(0.0, 1.0)
                };
                let (px, py) = (ax + t * dx, ay + t * dy);
                best = best.min((px * px + py * py).sqrt());
                j = i;
            }
        }
        best
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: [(&str, f64, f64, bool); 7] = [
        ("Tiananmen", 116.3975, 39.9087, true),
        ("Tianjin", 117.20, 39.12, false),
        ("Langfang", 116.70, 39.52, false),
        ("Zhuozhou", 115.97, 39.49, false),
        ("Yanqing", 115.97, 40.45, true),
        ("Miyun", 116.84, 40.37, true),
        ("Shijiazhuang", 114.51, 38.04, false),
    ];

    /// Issue 9: 2.3 km inside Hebei (Fengning/Chicheng side, north of Huairou). The first
    /// built-in polygon reached out past it, 4.9 km from its own edge, so a case was raised and
    /// not even marked `near_boundary`.
    const IN_HEBEI: (f64, f64) = (116.404, 40.801);

    /// What the built-in polygon's properties document: every point inside it is at least
    /// this far inside Beijing, and no part of Beijing is farther than `inward_error_km`
    /// from it.
    const CLEARANCE_KM: f64 = 0.6;

    fn inward_error_km() -> f64 {
        let doc: Value = serde_json::from_str(APPROXIMATE_GEOJSON).unwrap();
        doc["properties"]["inward_error_km"].as_f64().unwrap()
    }

    /// The shared accurate boundary (third-party data, never copied into the project), when
    /// this checkout sits next to it.
    fn reference() -> Option<Boundary> {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/beijing-boundary.geojson"
        );
        match std::fs::read_to_string(path) {
            Ok(text) => Some(Boundary::from_geojson(&text).unwrap()),
            Err(_) => {
                println!("skipped: reference boundary absent ({path})");
                None
            }
        }
    }

    /// Points every `step_km` along every edge.
    fn along_edges(b: &Boundary, step_km: f64) -> Vec<(f64, f64)> {
        let mut out = Vec::new();
        for ring in &b.rings {
            let mut j = ring.len() - 1;
            for i in 0..ring.len() {
                let ((x0, y0), (x1, y1)) = (ring[j], ring[i]);
                let km = (((x1 - x0) * 85.0).powi(2) + ((y1 - y0) * 111.2).powi(2)).sqrt();
                let n = (km / step_km).ceil().max(1.0) as u32;
                for k in 0..n {
                    let t = f64::from(k) / f64::from(n);
                    out.push((x0 + t * (x1 - x0), y0 + t * (y1 - y0)));
                }
                j = i;
            }
        }
        out
    }

    /// A 0.01 degree grid over the box.
    fn grid([x0, y0, x1, y1]: [f64; 4]) -> impl Iterator<Item = (f64, f64)> {
        let (ni, nj) = (((x1 - x0) / 0.01) as u32 + 1, ((y1 - y0) / 0.01) as u32 + 1);
        (0..=ni).flat_map(move |i| {
            (0..=nj).map(move |j| (x0 + 0.01 * f64::from(i), y0 + 0.01 * f64::from(j)))
        })
    }

    #[test]
    fn built_in_polygon_classifies_known_places() {
        let b = Boundary::default();
        assert!(
            (50..100).contains(&b.vertex_count()),
            "{}",
            b.vertex_count()
        );
        for (name, lon, lat, inside) in KNOWN {
            assert_eq!(b.contains(lon, lat), inside, "{name}");
        }
    }

    #[test]
    fn built_in_polygon_leaves_out_the_point_in_hebei() {
        let (lon, lat) = IN_HEBEI;
        assert!(!Boundary::default().contains(lon, lat));
        if let Some(reference) = reference() {
            assert!(!reference.contains(lon, lat));
            let d = reference.distance_km(lon, lat);
            assert!((d - 2.3).abs() < 0.05, "{d} km outside Beijing");
        }
    }

    /// The default `near_boundary_km` covers the polygon's documented error, so every case
    /// the built-in polygon raises within reach of a part of Beijing it leaves out is marked.
    #[test]
    fn default_near_boundary_km_covers_the_inward_error() {
        let near = crate::config::default_rules()
            .blacklisted_entry
            .near_boundary_km;
        assert!(near >= inward_error_km(), "{near} < {}", inward_error_km());
    }

    /// Errs inward: nothing inside the built-in polygon, on a grid or along its edges, is
    /// outside Beijing or within the datum allowance of its boundary.
    #[test]
    fn built_in_polygon_lies_inside_the_reference() {
        let Some(reference) = reference() else {
            return;
        };
        let ours = Boundary::default();
        for (name, lon, lat, inside) in KNOWN {
            assert_eq!(reference.contains(lon, lat), inside, "reference, {name}");
        }
        let inside_ours: Vec<(f64, f64)> = grid(ours.bbox)
            .filter(|&(lon, lat)| ours.contains(lon, lat))
            .chain(along_edges(&ours, 0.1))
            .collect();
        let outward: Vec<_> = inside_ours
            .iter()
            .filter(|&&(lon, lat)| !reference.contains(lon, lat))
            .collect();
        assert!(outward.is_empty(), "outside Beijing: {outward:?}");
        // The script keeps 0.6 km in its own projection; allow for the difference.
        let closest = inside_ours
            .iter()
            .map(|&(lon, lat)| reference.distance_km(lon, lat))
            .fold(f64::MAX, f64::min);
        println!(
            "0 of {} points outside Beijing; the closest is {closest:.3} km inside",
            inside_ours.len()
        );
        assert!(
            closest > CLEARANCE_KM - 0.05,
            "{closest} km from the boundary"
        );
    }

    /// No part of Beijing, on a grid or along its boundary, lies farther outside the built-in
    /// polygon than the documented inward error, and most of it lies inside.
    #[test]
    fn inward_error_is_as_documented() {
        let Some(reference) = reference() else {
            return;
        };
        let ours = Boundary::default();
        let in_beijing: Vec<(f64, f64)> = grid(reference.bbox)
            .filter(|&(lon, lat)| reference.contains(lon, lat))
            .collect();
        let covered = in_beijing
            .iter()
            .filter(|&&(lon, lat)| ours.contains(lon, lat))
            .count();
        let share = covered as f64 / in_beijing.len() as f64;
        assert!(share > 0.9, "covers {share} of Beijing");
        let (worst, at) = in_beijing
            .iter()
            .chain(&along_edges(&reference, 0.1))
            .filter(|&&(lon, lat)| !ours.contains(lon, lat))
            .map(|&(lon, lat)| (ours.distance_km(lon, lat), (lon, lat)))
            .fold((0.0, (0.0, 0.0)), |a, b| if b.0 > a.0 { b } else { a });
        println!("inward error {worst:.3} km at {at:?}; Beijing covered {share:.3}");
        assert!(worst <= inward_error_km(), "{worst} km at {at:?}");
    }

    #[test]
    fn distance_to_boundary() {
        let square =
            r#"{"type":"Polygon","coordinates":[[[116,40],[117,40],[117,41],[116,41],[116,40]]]}"#;
        let b = Boundary::from_geojson(square).unwrap();
        assert!(b.contains(116.5, 40.5));
        assert!(!b.contains(117.01, 40.5));
        // 0.01° of latitude is ~1.11 km.
        assert!((b.distance_km(116.5, 40.01) - 1.112).abs() < 0.01);
        assert!(b.distance_km(116.5, 40.5) > 40.0);
    }

    #[test]
    fn rejects_bad_geojson() {
        assert!(Boundary::from_geojson("{}").is_err());
        assert!(Boundary::from_geojson(r#"{"type":"Point","coordinates":[1,2]}"#).is_err());
        assert!(
            Boundary::from_geojson(r#"{"type":"Polygon","coordinates":[[[1,2],[3,4]]]}"#).is_err()
        );
    }
}
