// A host and a guest in one scene, Local mode (the README's QML section quotes this file).
import QtQuick
import Clayground.Network

Item {
    Network {
        id: host
        signalingMode: Network.SignalingMode.Local
        maxNodes: 4
        onNetworkCreated: (code) => {
            console.log("host: share this code:", code)
            guest.join(code)  // in a game, another program types the code in
        }
        onNodeJoined: (nodeId) => console.log("host:", nodeId, "joined")
        onMessageReceived: (from, data) => {
            console.log("host:", from, "says", data.text)
            sendTo(from, {type: "chat", text: "welcome!"})
        }
        onStateReceived: (from, data) => console.log("host:", from, "is at", data.x, data.y)
        onErrorOccurred: (message) => console.log("host error:", message)
    }

    Network {
        id: guest
        onNodeJoined: (nodeId) => {
            if (nodeId !== hostId) return  // HOST in Local mode, the code in Cloud mode
            broadcast({type: "chat", text: "hello, everyone"})
            broadcastState({x: 10, y: 20})  // lossy; the newest wins
        }
        onMessageReceived: (from, data) => {
            console.log("guest:", from, "says", data.text)
            Qt.quit()
        }
        onErrorOccurred: (message) => console.log("guest error:", message)
    }

    Component.onCompleted: host.host()
}
