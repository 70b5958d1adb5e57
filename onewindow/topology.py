"""Names and declarations of the event topology.

nameko declares a handler's queue only when its service starts, and an event
published before that is dropped. Declaring every consumer queue at set-up
and at every service's start closes that gap. The list comes from the
services' own handler declarations (`entrypoints.subscriptions`), handed over
by the composition root, so it cannot drift from the code.
"""
from kombu import Connection, Exchange, Queue

from . import config

# The nameko container config key under which a service's relay finds the
# subscriptions it declares at start (set by Centre.nameko_config).
SUBSCRIPTIONS_KEY = "EVENT_SUBSCRIPTIONS"


def event_exchange(service_name):
    # The same exchange nameko's EventDispatcher and event_handler use.
    return Exchange(f"{service_name}.events", type="topic", durable=True, auto_delete=False)


def queue_arguments():
    """Declaration arguments of the services' own queues.

    A queue's type is fixed when it is declared: RabbitMQ policies can set a
    queue's limits and leader placement but not its type, and the broker-wide
    `default_queue_type = quorum` would also turn nameko's RPC reply queues
    (durable, expiring, one per client and per readiness probe) into
    replicated quorum queues. So the type goes on exactly these declarations
    (here, the RPC consumer and the event handlers in entrypoints.py), and
    every declaration of the same queue says the same, as RabbitMQ requires."""
    kind = config.queue_type()
    return {} if kind == "classic" else {"x-queue-type": kind}


def consumer_queue(source_service, event_type, service_name, method_name):
    """The queue of one handler: `evt-<source>-<event>--<service>.<method>`."""
    return f"evt-{source_service}-{event_type}--{service_name}.{method_name}"


def consumer_of(queue):
    """The service whose handler reads a queue named by consumer_queue."""
    return queue.split("--", 1)[1].split(".", 1)[0]


def declare(amqp_uri, subscriptions):
    """Declare [(source_service, event_type, queue_name)]; returns them."""
    with Connection(amqp_uri, connect_timeout=10) as conn:
        channel = conn.channel()
        for source, event_type, queue_name in subscriptions:
            exchange = event_exchange(source)
            exchange(channel).declare()
            Queue(queue_name, exchange=exchange, routing_key=event_type, durable=True, auto_delete=False,
                  exclusive=False, queue_arguments=queue_arguments())(channel).declare()
    return subscriptions
