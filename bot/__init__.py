"""ECR Lifeguard: stop ECR lifecycle policies from deleting images that running services still need.

The tree reads as the flows. Each flow is one package; the pure core is in the middle, and every
input and output sits in ``bot.edge`` (plus ``handlers/`` for Slack's requests)::

    watch   registry + inventory → evaluate → risk → alert          (the scan every 15 minutes)
            scan.py        every repository's policy evaluated and joined with what is in use
            reconcile.py   post, update and resolve alerts for all repositories or one
            routing.py     which channel an alert goes to
            schedule.py    the timer: one replica at a time scans, reconciles, ends leases

    ops     text or button → verb → authorise → act → reply + audit  (/ecr and the CLI)
            registry.py    every verb (verbs/: one module each); Slack and the CLI come from it
            dispatch.py    run a verb; every error becomes a reply through bot.errors.explain
            call.py        one invocation: who, which permission, the per-image mutation
            mutation.py    changes to ECR that are never half-done, lost or raced
            audit_feed.py  the audit stream posted to the audit channel, through a queue

    pure core (stdlib + pydantic, no I/O library):
            lifecycle/  the exact ECR lifecycle evaluator, explanations, lint
            risk/       does an expiry hit something in use, and when
            inventory/  what uses which image (models, resolution, the source interface)
            diagnose/   why-missing: facts and verdicts (CloudTrail records read)
            events/     EventBridge/SQS messages as typed events
            blocks/     Slack Block Kit messages
            state/      the store interface, the records (leases, alerts, audit...), the journal
            ports.py    the interfaces the flows talk to: Registry, Trail, Cloud, Notifier
            errors.py   every exception, and the one mapping to what a person sees

    edge    aws/ (ECR, ECS, Lambda, CloudTrail, previews), kube/, stores/ (memory, Redis),
            slack/ (client, notifier, user groups, start-up checks), static_refs.py

    app.py  the composition root (settings → store → cloud → verbs, scheduler → Slack → run)
    cli/    the ``ecr-lifeguard`` command line
"""

__version__ = "0.1.0"
