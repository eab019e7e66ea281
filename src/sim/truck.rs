//! The physics of one simulated truck, second by second: speed from the driver's intentions
//! (`driver`) limited by mass and engine power, the powertrain turning speed into rpm, torque,
//! fuel and air flow, and the after-treatment (SCR temperatures, NOx before and after the
//! catalyst, urea) with coolant warm-up and cool-down while parked.
//!
//! Plausible rather than exact. What matters is that values stay inside domain.md's ranges,
//! move the way real ones do, and keep a clean truck clear of every rule threshold by a margin
//! while an injected fault crosses its threshold unmistakably. No records, no protobuf here.

use rand::rngs::SmallRng;
use rand::Rng;

use super::driver::{Drive, Driver};
use super::route::Route;
use crate::model::RuleId;

/// One second of everything the terminal samples, in physical units, not yet quantised.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Values {
    pub speed_kmh: f64,
    pub atmospheric_kpa: f64,
    pub net_torque_pct: f64,
    pub friction_torque_pct: f64,
    pub engine_rpm: f64,
    pub fuel_lph: f64,
    pub nox_up_ppm: f64,
    pub nox_down_ppm: f64,
    pub reagent_pct: f64,
    pub intake_kgph: f64,
    pub scr_in_c: f64,
    pub scr_out_c: f64,
    pub dpf_kpa: f64,
    pub coolant_c: f64,
    pub fuel_pct: f64,
    pub lon: f64,
    pub lat: f64,
    pub odometer_km: f64,
}

/// How the catalyst converts NOx.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Catalyst {
    /// Efficiency `base` once the SCR is hot, less while cold.
    Healthy { base: f64 },
    /// High engine-out NOx and a worn catalyst: downstream well over 500 ppm but conversion
    /// (35–43 %) still above the 30 % `scr_ineffective` threshold, so only one rule sees it.
    OverLimit { efficiency: f64 },
    /// A bypassed or dosing-starved catalyst on a moderate engine-out level: conversion near
    /// zero but downstream under 500 ppm, so `nox_over_limit` stays quiet.
    Ineffective { efficiency: f64 },
}

/// Below this SCR inlet temperature (and early in a drive) the driver warms up gently: the
/// engine-out NOx a cold catalyst cannot convert stays low, so even cold tailpipe NOx of a
/// clean truck stays far below 500 ppm.
const WARM_SCR_C: f64 = 210.0;
const WARM_UP_MAX_SECS: u32 = 15 * 60;
const G: f64 = 9.81;
const ROLLING: f64 = 0.007;
const DRAG_AREA_M2: f64 = 6.0;
const AIR_KG_M3: f64 = 1.2;
/// Engine speed per km/h in top gear (≈1400 rpm at 85 km/h); each lower gear is ×1.3.
const TOP_GEAR_RPM_PER_KMH: f64 = 16.5;
const UREA_PER_FUEL: f64 = 0.045;

#[derive(Debug, Clone)]
pub struct Truck {
    // Fixed per vehicle.
    mass_kg: f64,
    rated_kw: f64,
    peak_torque_nm: f64,
    idle_rpm: f64,
    idle_torque_pct: f64,
    idle_fuel_lph: f64,
    thermostat_c: f64,
    ambient_c: f64,
    atmospheric_kpa: f64,
    fuel_tank_l: f64,
    urea_tank_l: f64,
    catalyst: Catalyst,
    /// Clean trucks top up urea and diesel when parked; a truck running dry of urea does not.
    refills: bool,
    // State.
    speed_kmh: f64,
    accel: f64,
    load_avg: f64,
    on_secs: u32,
    coolant_c: f64,
    scr_in_c: f64,
    scr_out_c: f64,
    reagent_pct: f64,
    fuel_pct: f64,
    odometer_km: f64,
    driver: Driver,
    route: Route,
}

impl Truck {
    /// A truck parked overnight (everything at ambient temperature), with the physical side of
    /// its fault, if any. Faults of the terminal, the OBD or the roadside are not physics.
    pub fn new(fault: Option<RuleId>, rng: &mut SmallRng) -> Truck {
        let ambient_c = rng.random_range(5.0..15.0);
        let base = rng.random_range(0.85..0.95);
        let catalyst = match fault {
            Some(RuleId::NoxOverLimit) => Catalyst::OverLimit {
                efficiency: rng.random_range(0.36..0.41),
            },
            Some(RuleId::ScrIneffective) => Catalyst::Ineffective {
                efficiency: rng.random_range(0.03..0.10),
            },
            _ => Catalyst::Healthy { base },
        };
        let reagent_pct = if fault == Some(RuleId::ReagentEmpty) {
            // Reads 0 % (below the 0.4 % step) within twenty minutes of driving, as the
            // scheduling of faults (`needs`) counts on.
            rng.random_range(0.2..0.5)
        } else {
            rng.random_range(30.0..95.0)
        };
        Truck {
            mass_kg: rng.random_range(15_000.0..35_000.0),
            rated_kw: rng.random_range(220.0..300.0),
            peak_torque_nm: rng.random_range(1_900.0..2_500.0),
            idle_rpm: rng.random_range(620.0..690.0),
            idle_torque_pct: rng.random_range(3.0..6.0),
            idle_fuel_lph: rng.random_range(1.8..2.4),
            thermostat_c: rng.random_range(85.0..89.0),
            ambient_c,
            atmospheric_kpa: rng.random_range(100.5..102.5),
            fuel_tank_l: rng.random_range(400.0..600.0),
            urea_tank_l: rng.random_range(50.0..70.0),
            catalyst,
            refills: fault != Some(RuleId::ReagentEmpty),
            speed_kmh: 0.0,
            accel: 0.0,
            load_avg: 0.0,
            on_secs: 0,
            coolant_c: ambient_c,
            scr_in_c: ambient_c,
            scr_out_c: ambient_c,
            reagent_pct,
            fuel_pct: rng.random_range(50.0..95.0),
            odometer_km: rng.random_range(20_000.0..400_000.0),
            driver: Driver::depart(rng),
            route: Route::new(rng),
        }
    }

    pub fn position(&self) -> (f64, f64) {
        self.route.position()
    }

    pub fn start_engine(&mut self, rng: &mut SmallRng) {
        self.driver = Driver::depart(rng);
        self.on_secs = 0;
    }

    /// Engine off for `secs`: everything cools towards ambient (the SCR quickly, the coolant
    /// slowly), and a clean truck's driver tops up what is running low.
    pub fn park(&mut self, secs: f64) {
        let cool = |t: f64, tau: f64| self.ambient_c + (t - self.ambient_c) * (-secs / tau).exp();
        self.coolant_c = cool(self.coolant_c, 2_400.0);
        self.scr_in_c = cool(self.scr_in_c, 900.0);
        self.scr_out_c = cool(self.scr_out_c, 900.0);
        (self.speed_kmh, self.accel, self.load_avg) = (0.0, 0.0, 0.0);
        if self.refills {
            if self.reagent_pct < 20.0 {
                self.reagent_pct = 90.0;
            }
            if self.fuel_pct < 25.0 {
                self.fuel_pct = 95.0;
            }
        }
    }

    /// One second with the engine running.
    pub fn step(&mut self, drive: Drive, rng: &mut SmallRng) -> Values {
        let cold = self.scr_in_c < WARM_SCR_C && self.on_secs < WARM_UP_MAX_SECS;
        self.on_secs += 1;
        let (target, cap) = self.driver.next(self.speed_kmh, drive, cold, rng);

        // Speed: a proportional driver, smoothed (no jerks) and limited by engine power.
        let v_ms = self.speed_kmh / 3.6;
        let resistance = self.resistance_n(v_ms);
        let power_cap = if v_ms > 1.0 {
            (self.rated_kw * 1_000.0 / v_ms - resistance) / self.mass_kg
        } else {
            cap
        };
        let wanted =
            ((target - self.speed_kmh) / 3.6 * 0.3).clamp(-1.2, cap.min(power_cap).max(0.0));
        self.accel += (wanted - self.accel) * 0.35;
        self.speed_kmh = (self.speed_kmh + self.accel * 3.6).max(0.0);
        if target == 0.0 && self.speed_kmh < 0.3 {
            (self.speed_kmh, self.accel) = (0.0, 0.0);
        }
        let km = self.speed_kmh / 3_600.0;
        self.odometer_km += km;
        self.route.advance(km, self.driver.on_highway(), rng);

        // Powertrain.
        let v_ms = self.speed_kmh / 3.6;
        let power_kw = if v_ms > 0.0 {
            (self.mass_kg * self.accel + self.resistance_n(v_ms)) * v_ms / 1_000.0
        } else {
            0.0
        };
        let rpm = (self.gear_rpm(self.speed_kmh) + rng.random_range(-5.0..5.0)).max(self.idle_rpm);
        let (torque_pct, power_frac, fuel_lph) = if self.speed_kmh == 0.0 {
            (
                self.idle_torque_pct + rng.random_range(-0.5..0.5),
                0.02,
                self.idle_fuel_lph,
            )
        } else if power_kw <= 0.0 {
            // Coasting or braking: fuel cut, the engine drags.
            (-rng.random_range(3.0..8.0), 0.0, 0.3)
        } else {
            let torque_nm = power_kw * 1_000.0 / (rpm * std::f64::consts::TAU / 60.0);
            (
                (torque_nm / self.peak_torque_nm * 100.0).min(100.0),
                (power_kw / self.rated_kw).min(1.0),
                1.5 + 0.238 * power_kw,
            )
        };
        let intake_kgph = rpm * (0.12 + 0.45 * power_frac) + rng.random_range(-3.0..3.0);

        // Heat: exhaust temperature follows a smoothed load, the SCR follows the exhaust with
        // its thermal mass, so short idles at lights barely cool it and long ones do.
        self.load_avg += (power_frac - self.load_avg) / 20.0;
        let exhaust_c = 150.0 + 300.0 * self.load_avg.sqrt();
        self.scr_in_c += (exhaust_c - self.scr_in_c) / 90.0;
        self.scr_out_c += (self.scr_in_c - 10.0 - self.scr_out_c) / 45.0;
        self.coolant_c += (self.thermostat_c - self.coolant_c) * (0.004 + 0.008 * power_frac);

        let (nox_up_ppm, nox_down_ppm) = self.nox(torque_pct, rng);
        self.reagent_pct = (self.reagent_pct
            - fuel_lph * UREA_PER_FUEL / 3_600.0 / self.urea_tank_l * 100.0)
            .max(0.0);
        self.fuel_pct -= fuel_lph / 3_600.0 / self.fuel_tank_l * 100.0;
        if self.fuel_pct < 8.0 {
            // A stop at a fuel station, folded into one second.
            self.fuel_pct = 95.0;
        }
        let (lon, lat) = self.route.position();
        Values {
            speed_kmh: self.speed_kmh,
            atmospheric_kpa: self.atmospheric_kpa,
            net_torque_pct: torque_pct,
            friction_torque_pct: 6.0 + 4.0 * rpm / 2_000.0,
            engine_rpm: rpm,
            fuel_lph,
            nox_up_ppm,
            nox_down_ppm,
            reagent_pct: self.reagent_pct,
            intake_kgph,
            scr_in_c: self.scr_in_c,
            scr_out_c: self.scr_out_c,
            dpf_kpa: 0.4 + 0.007 * intake_kgph,
            coolant_c: self.coolant_c + rng.random_range(-0.4..0.4),
            fuel_pct: self.fuel_pct,
            lon,
            lat,
            odometer_km: self.odometer_km,
        }
    }

    /// Rolling and aerodynamic resistance, N.
    fn resistance_n(&self, v_ms: f64) -> f64 {
        if v_ms <= 0.0 {
            return 0.0;
        }
        self.mass_kg * G * ROLLING + 0.5 * AIR_KG_M3 * DRAG_AREA_M2 * v_ms * v_ms
    }

    /// A 12-speed box: the highest gear that keeps the engine above 1100 rpm.
    fn gear_rpm(&self, speed_kmh: f64) -> f64 {
        if speed_kmh < 1.0 {
            return self.idle_rpm;
        }
        let mut ratio = TOP_GEAR_RPM_PER_KMH;
        for _ in 0..11 {
            if speed_kmh * ratio >= 1_100.0 {
                break;
            }
            ratio *= 1.3;
        }
        (speed_kmh * ratio).min(2_100.0)
    }

    /// Upstream and downstream NOx, ppm.
    fn nox(&self, torque_pct: f64, rng: &mut SmallRng) -> (f64, f64) {
        let load = (torque_pct / 100.0).clamp(0.0, 1.0).powf(0.9);
        match self.catalyst {
            Catalyst::Healthy { base } => {
                // While the SCR is cold the ECU runs thermal management (more EGR, retarded
                // injection), which roughly halves engine-out NOx.
                let warm = ((self.scr_in_c - 150.0) / 70.0).clamp(0.0, 1.0);
                let up =
                    150.0 + 1_000.0 * load * (0.45 + 0.55 * warm) + rng.random_range(-8.0..8.0);
                let activity = 0.2 + 0.8 * ((self.scr_in_c - 130.0) / 90.0).clamp(0.0, 1.0);
                let efficiency = base * activity + rng.random_range(-0.015..0.015);
                (up, up * (1.0 - efficiency))
            }
            Catalyst::OverLimit { efficiency } => {
                let up = 1_150.0 + 250.0 * load + rng.random_range(-15.0..15.0);
                (up, up * (1.0 - efficiency - rng.random_range(-0.02..0.02)))
            }
            Catalyst::Ineffective { efficiency } => {
                let up = 260.0 + 180.0 * load + rng.random_range(-8.0..8.0);
                (
                    up,
                    up * (1.0 - (efficiency + rng.random_range(-0.03..0.03)).max(0.0)),
                )
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn drive(fault: Option<RuleId>, secs: u32, seed: u64) -> Vec<Values> {
        let mut rng = SmallRng::seed_from_u64(seed);
        let mut truck = Truck::new(fault, &mut rng);
        truck.start_engine(&mut rng);
        (0..secs)
            .map(|_| truck.step(Drive::Free, &mut rng))
            .collect()
    }

    #[test]
    fn a_clean_truck_warms_up_and_stays_clear_of_the_nox_thresholds() {
        for seed in 0..20 {
            let run = drive(None, 3 * 3_600, seed);
            let after_20_min = &run[20 * 60];
            assert!(
                after_20_min.coolant_c > 80.0,
                "seed {seed}: {after_20_min:?}"
            );
            assert!(run.iter().all(|v| v.nox_down_ppm < 450.0), "seed {seed}");
            for v in run.iter().filter(|v| v.scr_in_c >= 200.0) {
                assert!(
                    1.0 - v.nox_down_ppm / v.nox_up_ppm >= 0.6,
                    "seed {seed}: {v:?}"
                );
            }
            let speeds: Vec<f64> = run.iter().map(|v| v.speed_kmh).collect();
            assert!(speeds.iter().all(|&s| (0.0..=95.0).contains(&s)));
            assert!(
                speeds.windows(2).all(|w| (w[1] - w[0]).abs() <= 4.5),
                "seed {seed}: jerky"
            );
            assert!(
                speeds.iter().any(|&s| s > 60.0)
                    && speeds.iter().filter(|&&s| s == 0.0).count() > 60
            );
            // Warm after a quarter of an hour; short idles at lights barely cool the SCR.
            let warm = run[15 * 60..]
                .iter()
                .filter(|v| v.scr_in_c >= 200.0)
                .count();
            assert!(
                warm as f64 > 0.85 * (run.len() - 15 * 60) as f64,
                "seed {seed}: SCR warm only {warm} s"
            );
            assert!(
                run.iter().any(|v| v.scr_in_c >= 280.0),
                "seed {seed}: SCR never hot"
            );
            assert!(run
                .iter()
                .all(|v| v.reagent_pct > 0.0 && v.engine_rpm >= 600.0));
        }
    }

    #[test]
    fn faulty_catalysts_cross_exactly_one_threshold() {
        let over = drive(Some(RuleId::NoxOverLimit), 3_600, 1);
        for v in over.iter().filter(|v| v.scr_in_c >= 200.0) {
            assert!(
                v.nox_down_ppm > 600.0 && 1.0 - v.nox_down_ppm / v.nox_up_ppm > 0.32,
                "{v:?}"
            );
        }
        let bypass = drive(Some(RuleId::ScrIneffective), 3_600, 1);
        for v in &bypass {
            assert!(v.nox_up_ppm >= 250.0 && v.nox_down_ppm < 460.0, "{v:?}");
            assert!(1.0 - v.nox_down_ppm / v.nox_up_ppm < 0.15, "{v:?}");
        }
        let dry = drive(Some(RuleId::ReagentEmpty), 3_600, 1);
        assert_eq!(dry[3_599].reagent_pct, 0.0);
    }

    #[test]
    fn a_dry_tank_reads_empty_within_twenty_minutes() {
        for seed in 0..100 {
            let dry = drive(Some(RuleId::ReagentEmpty), 20 * 60, seed);
            // The wire's 0.4 % step reads anything below it as 0 %.
            assert!(dry[20 * 60 - 1].reagent_pct < 0.4, "seed {seed}");
        }
    }
}
