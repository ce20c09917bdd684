"""``ecr-lifeguard demo``: the real bot on embedded stand-ins, in under a minute, offline.

The bot's own code runs end to end (scan and reconcile, the event consumer and reactor, the
protect verb, why-missing) against an AWS emulator (moto, on 127.0.0.1), an in-process store, a
static Kubernetes cluster and a terminal standing in for Slack (or Slack itself, with
``--slack``). The story is the blog post "The mysterious case of the missing ECR image".

Modules: :mod:`bot.demo.emulator` (moto and its environment), :mod:`bot.demo.scene` (the blog's
repository and ECS service), :mod:`bot.demo.cluster` (Kubernetes), :mod:`bot.demo.cloud` (the
cloud the bot sees), :mod:`bot.demo.event_queue` (the event queue), :mod:`bot.demo.events`
(the events AWS would send), :mod:`bot.demo.render` and :mod:`bot.demo.terminal` (Slack in the
terminal), :mod:`bot.demo.story` (the steps), :mod:`bot.demo.command` (the command line).
"""
