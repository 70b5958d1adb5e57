"""The sender: a loop beside the service that hands queued messages to the
provider, off the event handlers' transactions.

Each pass: release messages stuck in `sending` (reconciler); claim due
messages (FOR UPDATE SKIP LOCKED, so replicas share the queue), hold those in
quiet hours or over the phone's daily cap, mark the rest `sending` with a
lease and commit; then send each outside any transaction (renewing its lease
first once half of it has gone) and record the outcomes, as many at once as
have come: `sent`, or `queued` again with backoff (failing over to the
second provider when the first keeps failing), or `failed` with its reason.
A pass costs a few transactions, not one or two per text.
"""
import collections
import datetime
import logging
import threading
import time

import eventlet
import eventlet.queue
import eventlet.semaphore
from nameko.extensions import DependencyProvider

from onewindow.db import Database

from . import cases, domain, providers
from . import metrics as sms_metrics
from .settings import Settings
from .store import NotifyStore

log = logging.getLogger(__name__)

_SENDER_DONE = object()  # a sender's last word to send_all


class Sender:
    """The sending rules over a unit-of-work factory; runs without nameko too."""

    # The backlog gauges are for dashboards scraped every 15 s.
    GAUGE_INTERVAL = 5.0
    # How many texts each sender may hand over before their outcomes are
    # recorded: a record for every few texts, not one each, and few asked
    # again after a crash (the chaos drill's out_ids asked more than once).
    UNRECORDED_PER_SENDER = 2

    def __init__(self, settings, units, provider_map=None):
        self.settings = settings
        self.units = units  # callable -> UnitOfWork
        self.providers = provider_map if provider_map is not None else providers.build_all(settings)
        self._reconciled_at = self._gauged_at = None

    def now_local(self):
        return datetime.datetime.now(self.settings.time_zone)

    def provider_for(self, name):
        return self.providers.get(name) or self.providers[self.settings.provider]

    # one pass ------------------------------------------------------------
    def run_once(self):
        """One pass; returns how many messages were handed to a provider.
        A pass every fraction of a second need not look for stuck messages
        each time: a quarter of the lease apart is soon enough for a lease."""
        now = time.monotonic()
        if self._reconciled_at is None or now - self._reconciled_at >= self.settings.sending_lease / 4:
            self._reconciled_at = now
            self.reconcile()
        claimed_at = time.monotonic()  # before the claim: the leases run from no earlier
        claimed = self.claim()
        self.send_all(claimed, claimed_at)
        if self._gauged_at is None or time.monotonic() - self._gauged_at >= self.GAUGE_INTERVAL:
            self._gauged_at = time.monotonic()
            self.update_backlog()
        return len(claimed)

    def reconcile(self):
        with self.units() as unit:
            released = NotifyStore(unit).release_stuck()
        for row in released:
            log.warning("message %s (%s) was stuck in sending; queued again", row["message_id"], row["template"])
        return released

    def claim(self):
        """Claim due messages in one transaction of four statements, however
        many: take them, count them against their phones' caps, hold what
        must wait, mark the rest `sending`. The claimed rows, in order."""
        settings = self.settings
        now = self.now_local()
        quiet_end = domain.quiet_until(now, settings.quiet_hours)
        today = now.date()
        with self.units() as unit:
            store = NotifyStore(unit)
            due = store.claim_due(settings.batch)
            asked = domain.asked_of_cap(due, today=today, quiet_end=quiet_end, daily_cap=settings.daily_cap)
            plan = domain.plan_claim(due, now=now, quiet_end=quiet_end, daily_cap=settings.daily_cap,
                                     granted=store.count_against_cap(asked, today, settings.daily_cap))
            store.hold(plan.hold)
            for _, _, reason in plan.hold:
                sms_metrics.HELD.labels(reason).inc()
            return store.mark_sending(plan.send, settings.sending_lease)

    def send_all(self, claimed, claimed_at):
        """Hand the claimed messages to their providers and record what
        happened.

        Each phone's texts go one after another, in the order claimed (a
        receipt before the notice that follows it), and up to
        `settings.senders` phones at once: one by one, a busy notify sent
        about 80 texts a second and a receipt waited over a second for its
        turn. What the senders finish is recorded together, in one
        transaction for all that finished meanwhile, instead of one
        transaction per text; the senders run at most
        UNRECORDED_PER_SENDER texts each ahead of the record."""
        phones = {}
        for message in claimed:
            phones.setdefault(message["phone"], []).append(message)
        by_phone = collections.deque(phones.values())  # in the order each phone first came
        finished = eventlet.queue.LightQueue()
        # A text handed over but not yet recorded is asked again after a
        # crash (same out_id, once its lease has run out): the senders stay
        # at most this many texts ahead of the record.
        ahead = eventlet.semaphore.Semaphore(self.UNRECORDED_PER_SENDER * self.settings.senders)
        stopped = []  # the first error that stops the pass

        def sender():
            try:
                while by_phone and not stopped:
                    for message in by_phone.popleft():
                        ahead.acquire()
                        if stopped:
                            break
                        finished.put(self.attempt(message, claimed_at))
            except BaseException as exc:  # a database that went away while renewing a lease
                stopped.append(exc)
            finally:
                finished.put(_SENDER_DONE)

        running = min(self.settings.senders, len(by_phone))
        for _ in range(running):
            eventlet.spawn_n(sender)
        while running:
            batch = [finished.get()]
            while finished.qsize():
                batch.append(finished.get_nowait())
            running -= batch.count(_SENDER_DONE)
            attempts = [a for a in batch if isinstance(a, domain.Attempt)]
            try:
                self.record(attempts)
            except BaseException as exc:
                # the senders take no further message (theirs go back by the
                # reconciler); those waiting for room wake to see it
                stopped.append(exc)
                for _ in range(running):
                    ahead.release()
                raise
            for item in batch:
                if item is not _SENDER_DONE:
                    ahead.release()
        if stopped:
            raise stopped[0]

    def attempt(self, message, claimed_at=None):
        """Hand one claimed message to its provider: a domain.Attempt to
        record, or None when the message is no longer this sender's.
        Past the first half of its lease (counted from `claimed_at`, this
        clock's time before the claim) the lease is renewed first, so a
        batch sent one by one never outlives its leases, and a message
        another sender took over is not sent again. Within the first half no
        one can have taken it over, and the send (at most the provider's
        timeouts, which the lease is at least twice: settings.sending_lease)
        ends before the lease does: no transaction is spent on renewing."""
        settings = self.settings
        if claimed_at is None or time.monotonic() - claimed_at >= settings.sending_lease / 2:
            with self.units() as unit:
                message = NotifyStore(unit).renew_lease(message["message_id"], message["lease_token"],
                                                        settings.sending_lease)
            if message is None:
                log.warning("a claimed message was taken over before its send; not sent from here")
                return None
        provider = self.provider_for(message["provider"])
        started = time.perf_counter()
        try:
            provider_message_id = provider.send(dict(message, out_id=providers.out_id(message)))
            error = None
        except providers.ProviderError as exc:
            provider_message_id, error = None, exc
        except Exception as exc:  # a bug or an unexpected answer: it may have gone out; retry, bounded
            log.exception("provider %s raised on message %s", provider.name, message["message_id"])
            provider_message_id = None
            error = providers.ProviderError("error", repr(exc)[:200], maybe_sent=True)
        seconds = time.perf_counter() - started
        sms_metrics.PROVIDER_SECONDS.labels(provider.name).observe(seconds)
        return domain.Attempt(message, provider.name, seconds, provider_message_id, error)

    def record(self, attempts):
        """What became of these attempts, in one transaction: `sent`, or
        `queued` again with backoff (failing over to the second provider
        when the first keeps failing), or `failed` with its reason."""
        if not attempts:
            return
        with self.units() as unit:
            store = NotifyStore(unit)
            recorded = store.record_sent([a for a in attempts if a.error is None])
            # the rest are blind writes but the receipts' and failures' reads:
            # they and the commit go in one round trip
            unit.pipelined()
            settled = []
            for sent, early in recorded:
                settled.append(sent)
                sms_metrics.counted(sent["template"], "sent", sent["segments"])
                if early:
                    settled.append(cases.apply_early_receipt(store, sent, early))
            for attempt in attempts:
                if attempt.error is not None:
                    settled.append(self.record_failure(store, attempt))
            store.emit_statuses([message for message in settled if message is not None])

    def record_failure(self, store, attempt):
        """The message if it failed for good, else None (queued again)."""
        settings, message, error = self.settings, attempt.message, attempt.error
        sms_metrics.PROVIDER_FAILURES.labels(attempt.provider, error.reason).inc()
        plan = domain.after_failure(
            attempts=message["attempts"], provider=attempt.provider,
            provider_attempts=message["provider_attempts"], retryable=error.retryable,
            reason=str(error), primary=settings.provider, fallback=settings.fallback or None,
            max_attempts=settings.max_attempts, failover_after=settings.failover_after,
            base=settings.retry_base, cap=settings.retry_cap,
            maybe_sent=error.maybe_sent or message["maybe_sent_by"] == attempt.provider,
        )
        log.warning("provider %s failed message %s (attempt %d): %s; %s", attempt.provider,
                    message["message_id"], message["attempts"], error.reason,
                    "giving up" if plan.status == "failed" else f"next on {plan.provider} in {plan.delay:.1f}s")
        outcome = "failed" if plan.status == "failed" else "retry"
        store.record_attempt(message["message_id"], message["attempts"], attempt.provider, outcome,
                             str(error)[:500], attempt.seconds)
        if plan.status == "failed":
            failed = store.mark_failed(message["message_id"], plan.reason[:500])
            if failed is not None:
                sms_metrics.counted(failed["template"], "failed", failed["segments"])
            return failed
        sms_metrics.RETRIES.labels(plan.provider).inc()
        store.mark_retry(message["message_id"], message["lease_token"], plan.provider, plan.provider_attempts,
                         plan.delay, str(error)[:500], maybe_sent_by=attempt.provider if error.maybe_sent else None)
        return None

    def update_backlog(self):
        with self.units() as unit:
            store = NotifyStore(unit)
            sms_metrics.QUEUED_BACKLOG.set(store.backlog())
            for status, seconds in store.oldest_waiting().items():
                sms_metrics.OLDEST_WAITING.labels(status).set(seconds)


class SmsSender(DependencyProvider):
    """Runs the Sender loop in the service container: at once when a worker
    of the service has finished (a handler may have queued a text: the
    applicant hears without waiting for a tick), and every
    OW_SMS_SEND_INTERVAL seconds (default 1) for what falls due later."""

    def setup(self):
        self.settings = Settings.load(self.container.config)
        self.sender = None
        self._running = False
        self._wake = threading.Event()

    def worker_result(self, worker_ctx, result=None, exc_info=None):
        # after the entrypoint committed (nameko calls this after its reply or ack)
        if exc_info is None:
            self._wake.set()

    def _database(self):
        for dependency in self.container.dependencies:
            if isinstance(dependency, Database):
                return dependency
        raise RuntimeError("the notify service needs a Database dependency")

    def start(self):
        self._running = True
        self.container.spawn_managed_thread(self._loop, identifier="notify.sender")

    def stop(self):
        self._running = False
        self._wake.set()

    def kill(self):
        self.stop()

    def _loop(self):
        database = self._database()
        failures = 0
        while self._running:
            if failures:
                eventlet.sleep(min(30, 2 ** failures))
            else:
                self._wake.wait(self.settings.send_interval)
            self._wake.clear()
            if not self._running:
                break
            if database.pool is None:
                continue  # the database dependency has not started yet
            if self.sender is None:
                self.sender = Sender(self.settings, database.unit_of_work)
            try:
                # drain: keep going while full batches come back
                while self._running and self.sender.run_once() >= self.settings.batch:
                    pass
                failures = 0
            except Exception:
                failures += 1
                log.exception("SMS sender pass failed")

    def get_dependency(self, worker_ctx):
        return self.settings
