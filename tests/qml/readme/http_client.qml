// ClayHttpClient against `python3 -m http.server 8000 --bind 127.0.0.1` started in the
// repository (the README's QML section quotes this file).
import QtQuick
import Clayground.Network

Item {
    ClayHttpClient {
        id: api
        baseUrl: "http://127.0.0.1:8000"
        endpoints: {
            "getFile": "GET {name}",
            "createPost": "POST posts {postData}"
        }
        bearerToken: "env:API_TOKEN"

        onReply: (requestId, code, response) => {
            console.log("reply", requestId, code, response.split("\n")[0])
            Qt.quit()
        }
        onError: (requestId, code, error) => {
            console.log("error", requestId, code, error)
            Qt.quit()
        }
    }

    Component.onCompleted: api.getFile("README.md")
}
