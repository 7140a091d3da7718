//! Counting the GPU kernels (compute dispatches) that work on wgpu or WebGPU launches.
//!
//! Each kernel launch costs a fixed overhead on top of its work, which for the small kernels of a
//! decoding step is most of the step (burn #3317); the count says how much kernel fusion saves.
//! cubecl tells an installed launch observer of every kernel it issues, fused ones included, on
//! the thread that issues it, before submitting it. cubecl has one observer slot: a second
//! [`KernelCount`] replaces the first while it lives.
//!
//! On burn's CPU backend (and in builds without the `wgpu` feature) nothing is counted:
//! [`KernelCount::start`] returns `None`.

use burn::prelude::Device;

/// Kernels launched since [`KernelCount::start`], until it is dropped.
pub struct KernelCount {
    #[cfg(feature = "wgpu")]
    counter: std::sync::Arc<imp::Counter>,
    #[cfg(feature = "wgpu")]
    _observation: cubecl_runtime::logging::LaunchObservation,
}

impl KernelCount {
    /// Starts counting the kernels launched on any cubecl device (there is one in our builds),
    /// if `device` is one; `None` on the CPU backend.
    pub fn start(device: &Device) -> Option<KernelCount> {
        #[cfg(feature = "wgpu")]
        if !crate::nn::is_cpu(device) {
            let counter = std::sync::Arc::new(imp::Counter::default());
            let observation = cubecl_runtime::logging::LaunchObservation::new(counter.clone());
            return Some(KernelCount {
                counter,
                _observation: observation,
            });
        }
        let _ = device;
        None
    }

    /// Kernels launched so far.
    pub fn launched(&self) -> usize {
        #[cfg(feature = "wgpu")]
        return self.counter.0.load(std::sync::atomic::Ordering::Relaxed);
        #[cfg(not(feature = "wgpu"))]
        0
    }
}

#[cfg(feature = "wgpu")]
mod imp {
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[derive(Default)]
    pub struct Counter(pub AtomicUsize);

    impl cubecl_runtime::logging::LaunchObserver for Counter {
        fn launched(&self, _kernel: &'static str) {
            self.0.fetch_add(1, Ordering::Relaxed);
        }
    }
}
