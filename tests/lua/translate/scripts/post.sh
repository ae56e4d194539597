#!/bin/sh
echo post > /etc/post-marker
