# The base of a Pacemaker bundle's image (`make image-bundle`): the lean Pacemaker Remote
# image, whose pacemaker-remoted the bundle runs itself (ocf:heartbeat:docker starts the
# replica with /usr/sbin/pacemaker-remoted as its command; our launcher never starts there).
# Add your service on top:
#   FROM pacemaker_docker:bundle
#   RUN apt-get update && apt-get install -y --no-install-recommends YOUR-SERVICE \
#       && rm -rf /var/lib/apt/lists/*
ARG REMOTE_IMAGE=pacemaker_docker:remote
FROM ${REMOTE_IMAGE}
# IPC through socket files, not abstract sockets: with network=host a replica's @lrmd and
# @cib_rw would otherwise be sockets of the host's namespace, where they collide with any
# other Pacemaker there (the host's own, a --net=host node, another replica).
RUN mkdir -p /etc/libqb && touch /etc/libqb/force-filesystem-sockets
LABEL org.opencontainers.image.description="Base of a Pacemaker bundle's image: pacemaker-remoted (run by the bundle), filesystem IPC sockets"
