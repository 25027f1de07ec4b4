#!/bin/sh
# Install the NavBill bundle for the current user (no root needed), or remove it again.
#
#   ./install.sh                 copy the bundle, add the menu entry, icon and commands
#   ./install.sh --autostart     ... and start NavBill at sign-in (~/.config/autostart)
#   ./install.sh --uninstall     remove all of the above; your data is kept
#   ./install.sh --uninstall --purge   ... and delete your data, logs and settings too
#
# Run from the unpacked bundle folder (the one holding NavBill, navbill-cli and share/).
set -eu

BUNDLE="$(cd "$(dirname "$0")" && pwd)"
PREFIX="${NAVBILL_PREFIX:-$HOME/.local}"
DATA_HOME="${XDG_DATA_HOME:-$HOME/.local/share}"
CONFIG_HOME="${XDG_CONFIG_HOME:-$HOME/.config}"
STATE_HOME="${XDG_STATE_HOME:-$HOME/.local/state}"

APP_DIR="$PREFIX/lib/navbill"
BIN_DIR="$PREFIX/bin"
DESKTOP_FILE="$DATA_HOME/applications/navbill.desktop"
AUTOSTART_FILE="$CONFIG_HOME/autostart/navbill.desktop"
ICON_FILE="$DATA_HOME/icons/hicolor/256x256/apps/navbill.png"

autostart=0
uninstall=0
purge=0
for arg in "$@"; do
    case "$arg" in
        --autostart) autostart=1 ;;
        --uninstall) uninstall=1 ;;
        --purge) purge=1 ;;
        -h|--help) sed -n '2,9p' "$0"; exit 0 ;;
        *) echo "unknown option: $arg" >&2; exit 2 ;;
    esac
done

refresh_menus() {
    # Optional helpers: desktops pick the changes up on their own, only later.
    command -v update-desktop-database >/dev/null 2>&1 && update-desktop-database -q "$DATA_HOME/applications" || true
    command -v gtk-update-icon-cache >/dev/null 2>&1 && gtk-update-icon-cache -q -t "$DATA_HOME/icons/hicolor" || true
}

# Exec= in the shipped entries names the bare executable; point it at the installed one so the menu
# works even when ~/.local/bin is not on the desktop session's PATH.
install_entry() {
    mkdir -p "$(dirname "$2")"
    sed "s|^Exec=NavBill|Exec=\"$APP_DIR/NavBill\"|" "$1" > "$2"
}

if [ "$uninstall" = 1 ]; then
    rm -f "$DESKTOP_FILE" "$AUTOSTART_FILE" "$ICON_FILE" "$BIN_DIR/navbill" "$BIN_DIR/navbill-cli"
    rm -rf "$APP_DIR"
    if [ "$purge" = 1 ]; then
        # The folders platformdirs gives NavBill on Linux (see app/setup/config.py).
        rm -rf "$DATA_HOME/NavBill" "$CONFIG_HOME/NavBill" "$STATE_HOME/NavBill"
        echo "NavBill removed, with its data, logs and settings."
    else
        echo "NavBill removed. Your data is kept in $DATA_HOME/NavBill (remove it with --uninstall --purge)."
    fi
    refresh_menus
    exit 0
fi

[ -x "$BUNDLE/NavBill" ] || { echo "run install.sh from the unpacked NavBill folder" >&2; exit 1; }
if [ "$BUNDLE" != "$APP_DIR" ]; then
    rm -rf "$APP_DIR"
    mkdir -p "$APP_DIR"
    cp -a "$BUNDLE/." "$APP_DIR/"
fi
mkdir -p "$BIN_DIR" "$(dirname "$ICON_FILE")"
ln -sf "$APP_DIR/NavBill" "$BIN_DIR/navbill"
ln -sf "$APP_DIR/navbill-cli" "$BIN_DIR/navbill-cli"
cp "$APP_DIR/share/navbill.png" "$ICON_FILE"
install_entry "$APP_DIR/share/navbill.desktop" "$DESKTOP_FILE"
if [ "$autostart" = 1 ]; then
    install_entry "$APP_DIR/share/navbill-autostart.desktop" "$AUTOSTART_FILE"
fi
refresh_menus
echo "NavBill installed in $APP_DIR; commands: $BIN_DIR/navbill, $BIN_DIR/navbill-cli."
[ "$autostart" = 1 ] && echo "It will start when you sign in ($AUTOSTART_FILE)."
exit 0
