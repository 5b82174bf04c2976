// A plain button (QtQuick only, so the sandbox needs no Controls style).
import QtQuick

Rectangle {
    id: button
    property alias text: label.text
    signal clicked()

    implicitWidth: label.implicitWidth + 20
    implicitHeight: 28
    radius: 4
    color: area.pressed ? "#b0b8c8" : (enabled ? "#d8dde6" : "#eeeeee")
    border.color: "#8890a0"

    Text { id: label; anchors.centerIn: parent; color: button.enabled ? "black" : "#999999" }
    MouseArea { id: area; anchors.fill: parent; onClicked: button.clicked() }
}
