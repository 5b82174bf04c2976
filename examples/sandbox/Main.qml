// The sandbox window: one Network node. Host or join by code, chat, and move your square with the
// arrow keys; the other nodes' squares follow their broadcastState updates, interpolated.
import QtQuick
import QtQuick.Window
import Clayground.Network

Window {
    id: root

    // Set by main.cpp from the command line.
    property bool autoHost: false
    property string autoJoinCode: ""
    property bool loopback: false
    property string squareColor: ""
    property string playerName: ""
    property int windowX: -1
    property int windowY: -1
    property int squareX: -1
    property int squareY: -1

    readonly property color myColor: squareColor !== "" ? squareColor
                                                         : Qt.hsla(Math.random(), 0.7, 0.5, 1)
    readonly property string myName: playerName !== "" ? playerName
                                                       : (network.nodeId || "me")
    readonly property int squareSize: 40
    // Seen peers, so the log line the screenshot test waits for comes once per node.
    property var announced: ({})

    width: 640
    height: 480
    visible: true
    title: "claynet sandbox" + (network.networkId ? " — " + network.networkId : "")
    Component.onCompleted: {
        if (windowX >= 0) x = windowX
        if (windowY >= 0) y = windowY
        if (autoHost)
            network.host()
        else if (autoJoinCode !== "")
            network.join(autoJoinCode)
    }

    Network {
        id: network
        signalingMode: Network.SignalingMode.Local
        maxNodes: 8
        verbose: true
        // claynet extensions: keep the code and ICE on loopback for windows on one machine.
        localAddress: root.loopback ? "127.0.0.1" : ""
        iceLocalAddresses: root.loopback ? ["127.0.0.1"] : []

        onNetworkCreated: (code) => {
            codeInput.text = code
            console.log("sandbox: code " + code)
            log.add("network created, code " + code)
        }
        onNodeJoined: (nodeId) => log.add(nodeId + " joined")
        onNodeLeft: (nodeId) => {
            console.log("sandbox: " + nodeId + " left")
            log.add(nodeId + " left")
            peers.removeNode(nodeId)
        }
        onMessageReceived: (fromId, data) => {
            if (data && data.type === "chat")
                log.add((data.name || fromId) + ": " + data.text)
        }
        onStateReceived: (fromId, data) => peers.updateNode(fromId, data)
        onErrorOccurred: (message) => log.add("error: " + message)
        onStatusChanged: {
            if (connected) {
                console.log("sandbox: connected as " + nodeId)
                me.sendState()
            }
        }
    }

    // The other nodes' squares: id -> state, in a ListModel for the Repeater.
    ListModel {
        id: peers
        function indexOfNode(nodeId) {
            for (var i = 0; i < count; ++i)
                if (get(i).nodeId === nodeId) return i
            return -1
        }
        function updateNode(nodeId, data) {
            if (!data || typeof data.x !== "number" || typeof data.y !== "number") return
            var entry = {nodeId: nodeId, px: data.x, py: data.y,
                         squareColor: String(data.color || "gray"), name: String(data.name || nodeId)}
            var i = indexOfNode(nodeId)
            if (i < 0) append(entry)
            else set(i, entry)
            if (!root.announced[nodeId]) {
                root.announced[nodeId] = true
                console.log("sandbox: sees " + nodeId + " " + entry.squareColor)
            }
        }
        function removeNode(nodeId) {
            var i = indexOfNode(nodeId)
            if (i >= 0) remove(i)
            delete root.announced[nodeId]
        }
    }

    Column {
        anchors.fill: parent
        anchors.margins: 8
        spacing: 6

        Row {
            spacing: 6
            SandboxButton { text: "Host"; enabled: !network.connected; onClicked: network.host() }
            Rectangle {
                width: 150; height: 28; border.color: "#8890a0"
                TextInput {
                    id: codeInput
                    anchors.fill: parent; anchors.margins: 6
                    clip: true; selectByMouse: true
                    font.capitalization: Font.AllUppercase
                }
            }
            SandboxButton {
                text: "Join"
                enabled: !network.connected && codeInput.text.length > 0
                onClicked: network.join(codeInput.text)
            }
            SandboxButton {
                text: "Leave"
                onClicked: {
                    network.leave()
                    peers.clear()
                    root.announced = {}
                }
            }
            Text {
                anchors.verticalCenter: parent.verticalCenter
                text: ["Disconnected", "Connecting", "Connected", "Error"][network.status]
                      + (network.connectionPhase ? " (" + network.connectionPhase + ")" : "")
                      + (network.isHost ? ", host" : "")
            }
        }

        Row {
            spacing: 8
            height: parent.height - 40

            // The arena: click it for keyboard focus, then use the arrow keys.
            Rectangle {
                id: arena
                width: 380; height: parent.height
                color: "#f4f4f4"
                border.color: activeFocus ? "#3060c0" : "#c0c0c0"
                focus: true
                clip: true
                MouseArea { anchors.fill: parent; onClicked: arena.forceActiveFocus() }
                Keys.onPressed: (event) => {
                    var step = 10
                    if (event.key === Qt.Key_Left) me.x = Math.max(0, me.x - step)
                    else if (event.key === Qt.Key_Right) me.x = Math.min(width - root.squareSize, me.x + step)
                    else if (event.key === Qt.Key_Up) me.y = Math.max(0, me.y - step)
                    else if (event.key === Qt.Key_Down) me.y = Math.min(height - root.squareSize, me.y + step)
                    else return
                    event.accepted = true
                }

                Repeater {
                    model: peers
                    delegate: Rectangle {
                        required property real px
                        required property real py
                        required property string squareColor
                        required property string name
                        width: root.squareSize; height: root.squareSize
                        color: squareColor
                        x: px; y: py
                        // Interpolation between the updates (they come every 50 ms at most).
                        Behavior on x { NumberAnimation { duration: 100 } }
                        Behavior on y { NumberAnimation { duration: 100 } }
                        Text { anchors.top: parent.bottom; text: name; font.pixelSize: 10 }
                    }
                }

                Rectangle {
                    id: me
                    property bool dirty: true
                    width: root.squareSize; height: root.squareSize
                    x: root.squareX >= 0 ? root.squareX : 20 + Math.floor(Math.random() * 300)
                    y: root.squareY >= 0 ? root.squareY : 20 + Math.floor(Math.random() * 360)
                    color: root.myColor
                    onXChanged: dirty = true
                    onYChanged: dirty = true
                    function sendState() {
                        if (!network.connected) return
                        network.broadcastState({x: x, y: y, color: String(root.myColor), name: root.myName})
                        dirty = false
                    }
                    Text { anchors.top: parent.bottom; text: root.myName + " (you)"; font.pixelSize: 10 }
                }

                // Moves go out at most every 50 ms; an unchanged square is repeated twice a
                // second, since state updates may be lost and newcomers need to see it.
                Timer {
                    property int ticks: 0
                    interval: 50; running: network.connected; repeat: true
                    onTriggered: {
                        ticks = (ticks + 1) % 10
                        if (me.dirty || ticks === 0) me.sendState()
                    }
                }
            }

            Column {
                width: parent.parent.width - arena.width - 8
                spacing: 4
                Text {
                    width: parent.width; wrapMode: Text.Wrap
                    text: "node " + (network.nodeId || "-") + "\nlatency " + network.latency + " ms"
                          + "\nphaseTiming " + JSON.stringify(network.phaseTiming)
                          + "\nnodes (" + network.nodeCount + "): " + network.nodes.join(", ")
                }
                ListView {
                    id: log
                    width: parent.width; height: 220
                    clip: true
                    model: ListModel { id: logModel }
                    delegate: Text { width: log.width; wrapMode: Text.Wrap; text: line; font.pixelSize: 11 }
                    function add(line) {
                        logModel.append({line: line})
                        positionViewAtEnd()
                    }
                }
                Rectangle {
                    width: parent.width; height: 28; border.color: "#8890a0"
                    TextInput {
                        id: chatInput
                        anchors.fill: parent; anchors.margins: 6; clip: true
                        onAccepted: send()
                        function send() {
                            if (text.length === 0 || !network.connected) return
                            network.broadcast({type: "chat", text: text, name: root.myName})
                            log.add(root.myName + ": " + text)
                            text = ""
                        }
                    }
                }
                SandboxButton { text: "Send"; onClicked: chatInput.send() }
            }
        }
    }
}
