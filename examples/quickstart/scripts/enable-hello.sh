#!/bin/sh
# Runs inside the image (chroot): enable the unit without starting anything.
set -e
systemctl enable imgrecipe-hello.service
