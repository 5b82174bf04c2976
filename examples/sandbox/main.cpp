// claynet-sandbox: a Clayground.Network playground window (Main.qml). See README.md here.
#include <QCommandLineParser>
#include <QGuiApplication>
#include <QQmlApplicationEngine>
#include <QUrl>
#include <QVariantMap>
#include <cstdio>

int main(int argc, char* argv[]) {
  QGuiApplication app(argc, argv);
  QGuiApplication::setApplicationName(QStringLiteral("claynet-sandbox"));

  QCommandLineParser parser;
  parser.setApplicationDescription(
      QStringLiteral("A window with one Network node: host or join, chat, and a square per node."));
  parser.addHelpOption();
  const QCommandLineOption host(QStringLiteral("host"), QStringLiteral("Host right away."));
  const QCommandLineOption join(QStringLiteral("join"), QStringLiteral("Join this code."),
                                QStringLiteral("code"));
  const QCommandLineOption loopback(
      QStringLiteral("loopback"),
      QStringLiteral("Stay on 127.0.0.1 (LAN code and ICE), for windows on one machine."));
  const QCommandLineOption color(QStringLiteral("color"),
                                 QStringLiteral("This node's square colour (default random)."),
                                 QStringLiteral("#rrggbb"));
  const QCommandLineOption name(QStringLiteral("name"), QStringLiteral("Name shown in the chat."),
                                QStringLiteral("name"));
  const QCommandLineOption x(QStringLiteral("x"), QStringLiteral("Window position x."),
                             QStringLiteral("px"), QStringLiteral("-1"));
  const QCommandLineOption y(QStringLiteral("y"), QStringLiteral("Window position y."),
                             QStringLiteral("px"), QStringLiteral("-1"));
  const QCommandLineOption squareX(QStringLiteral("square-x"),
                                   QStringLiteral("Start position of this node's square."),
                                   QStringLiteral("px"), QStringLiteral("-1"));
  const QCommandLineOption squareY(QStringLiteral("square-y"),
                                   QStringLiteral("Start position of this node's square."),
                                   QStringLiteral("px"), QStringLiteral("-1"));
  parser.addOptions({host, join, loopback, color, name, x, y, squareX, squareY});
  parser.process(app);

  QQmlApplicationEngine engine;
  // The Clayground.Network module of this build; QML_IMPORT_PATH may add others.
  engine.addImportPath(QStringLiteral(CLAYNET_SANDBOX_QML_DIR));
  engine.setInitialProperties({
      {QStringLiteral("autoHost"), parser.isSet(host)},
      {QStringLiteral("autoJoinCode"), parser.value(join)},
      {QStringLiteral("loopback"), parser.isSet(loopback)},
      {QStringLiteral("squareColor"), parser.value(color)},
      {QStringLiteral("playerName"), parser.value(name)},
      {QStringLiteral("windowX"), parser.value(x).toInt()},
      {QStringLiteral("windowY"), parser.value(y).toInt()},
      {QStringLiteral("squareX"), parser.value(squareX).toInt()},
      {QStringLiteral("squareY"), parser.value(squareY).toInt()},
  });
  engine.load(QUrl(QStringLiteral("qrc:/Main.qml")));
  if (engine.rootObjects().isEmpty()) {
    std::fprintf(stderr, "claynet-sandbox: Main.qml did not load (see the messages above)\n");
    return 1;
  }
  return QGuiApplication::exec();
}
