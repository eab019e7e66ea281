//! The one way a stop is asked for. `Trigger::stop` (a signal, a test) sets it once; the
//! service's blocking loop asks `Shutdown::requested`, async code (the admin server) awaits
//! `Shutdown::wait`. Both read the same channel, so nothing can stop on its own path.

use tokio::sync::watch;

/// Asks for the stop.
pub struct Trigger(watch::Sender<bool>);

/// Says whether the stop was asked for; clone it for every part that must stop.
#[derive(Clone)]
pub struct Shutdown(watch::Receiver<bool>);

pub fn channel() -> (Trigger, Shutdown) {
    let (tx, rx) = watch::channel(false);
    (Trigger(tx), Shutdown(rx))
}

impl Trigger {
    pub fn stop(&self) {
        self.0.send_replace(true);
    }

    /// A handle that hears this trigger.
    pub fn subscribe(&self) -> Shutdown {
        Shutdown(self.0.subscribe())
    }
}

impl Shutdown {
    pub fn requested(&self) -> bool {
        *self.0.borrow()
    }

    /// Resolves once the stop is asked for (or the trigger is gone: nobody can ask any more,
    /// which a long-running part must take as a stop).
    pub async fn wait(mut self) {
        let _ = self.0.wait_for(|&stop| stop).await;
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_handle_hears_the_stop() {
        let (trigger, shutdown) = super::channel();
        let other = shutdown.clone();
        assert!(!shutdown.requested());
        trigger.stop();
        assert!(shutdown.requested() && other.requested());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        runtime.block_on(other.wait());
    }
}
