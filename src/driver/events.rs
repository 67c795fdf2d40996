//! Delivery of [`Event`]s to callbacks and subscribers.
//!
//! Events are queued in the order the session raised them and delivered by one
//! thread at a time: a thread that finds another already delivering leaves its
//! events to it. Callbacks therefore see events in order, never concurrently, and
//! may call into the multiplexer (even raising new events) without deadlock.

use crate::event::Event;
use crossbeam_channel::{Receiver, Sender};
use parking_lot::Mutex;
use std::collections::VecDeque;
use std::sync::Arc;

type Callback = Arc<dyn Fn(&Event) + Send + Sync>;

#[derive(Default)]
struct Listeners {
    callbacks: Vec<Callback>,
    subscribers: Vec<Sender<Event>>,
}

#[derive(Default)]
struct Queue {
    events: VecDeque<Event>,
    delivering: bool,
}

#[derive(Default)]
pub(crate) struct EventHub {
    listeners: Mutex<Listeners>,
    queue: Mutex<Queue>,
}

impl EventHub {
    pub fn add_callback(&self, callback: Callback) {
        self.listeners.lock().callbacks.push(callback);
    }

    pub fn subscribe(&self) -> Receiver<Event> {
        let (tx, rx) = crossbeam_channel::unbounded();
        self.listeners.lock().subscribers.push(tx);
        rx
    }

    /// Queues events for delivery; false when nobody listens (they are dropped).
    pub fn enqueue(&self, events: Vec<Event>) -> bool {
        {
            let listeners = self.listeners.lock();
            if listeners.callbacks.is_empty() && listeners.subscribers.is_empty() {
                return false;
            }
        }
        self.queue.lock().events.extend(events);
        true
    }

    /// Delivers queued events unless another thread is already doing so.
    pub fn dispatch(&self) {
        {
            let mut queue = self.queue.lock();
            if queue.delivering {
                return;
            }
            queue.delivering = true;
        }
        loop {
            let event = {
                let mut queue = self.queue.lock();
                match queue.events.pop_front() {
                    Some(event) => event,
                    None => {
                        queue.delivering = false;
                        return;
                    }
                }
            };
            let callbacks = {
                let mut listeners = self.listeners.lock();
                // Unbounded sends never block; a dropped receiver unsubscribes.
                listeners.subscribers.retain(|s| s.send(event.clone()).is_ok());
                listeners.callbacks.clone()
            };
            for callback in &callbacks {
                callback(&event);
            }
        }
    }
}
