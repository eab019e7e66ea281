//! The Beijing municipal boundary as data: point-in-polygon with a bounding-box pre-check, and
//! distance to the boundary so evidence near it can be marked.
//!
//! Pure. Parsing takes GeoJSON text; reading the file is the config loader's job.

use serde_json::Value;

/// The built-in approximate polygon (72 vertices, written by this project; see the file's
/// `properties`). Deployments point `blacklisted_entry.boundary` at an accurate file.
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

    #[test]
    fn built_in_polygon_classifies_known_places() {
        let b = Boundary::default();
        assert!(b.vertex_count() >= 50);
        for (name, lon, lat, inside) in KNOWN {
            assert_eq!(b.contains(lon, lat), inside, "{name}");
        }
    }

    /// The shared reference boundary (third-party data, not copied into the project) agrees
    /// with the built-in polygon on the known points and on most of the bounding box.
    #[test]
    fn built_in_polygon_agrees_with_the_reference() {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../shared/data/beijing-boundary.geojson"
        );
        let Ok(text) = std::fs::read_to_string(path) else {
            panic!("reference boundary missing at {path}");
        };
        let reference = Boundary::from_geojson(&text).unwrap();
        let ours = Boundary::default();
        for (name, lon, lat, inside) in KNOWN {
            assert_eq!(reference.contains(lon, lat), inside, "reference, {name}");
        }
        // A deterministic grid over the reference's bounding box.
        let (mut agree, mut total) = (0, 0);
        for i in 0..100 {
            for j in 0..100 {
                let lon = 115.40 + 2.15 * f64::from(i) / 99.0;
                let lat = 39.42 + 1.66 * f64::from(j) / 99.0;
                total += 1;
                agree += usize::from(ours.contains(lon, lat) == reference.contains(lon, lat));
            }
        }
        let share = agree as f64 / total as f64;
        assert!(share > 0.97, "agreement {share}");
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
