// ModelListModel: the installed models for the model picker, each with badges of what it can do.
#pragma once

#include <QAbstractListModel>
#include <QList>

#include "core/local_models.h"

namespace ui {

class ModelListModel : public QAbstractListModel {
    Q_OBJECT
public:
    enum Role {
        PathRole = Qt::UserRole + 1,
        FamilyRole,      // int (appcore::ModelFamily)
        TasksRole,       // int (TaskFlag bits)
        TaskBadgesRole,  // "T2I" / "T2V" / "I2V", joined by spaces
        SourceRole,      // int (appcore::ModelSource)
    };

    explicit ModelListModel(QObject* parent = nullptr);

    int rowCount(const QModelIndex& parent = QModelIndex()) const override;
    QVariant data(const QModelIndex& index, int role = Qt::DisplayRole) const override;
    QHash<int, QByteArray> roleNames() const override;

    void setModels(const QList<appcore::LocalModel>& models);
    const QList<appcore::LocalModel>& models() const { return models_; }
    const appcore::LocalModel& model(int row) const { return models_[row]; }
    /// Row of a model by path (or by name when no path matches), -1 if absent.
    int rowOf(const QString& pathOrName) const;

private:
    QList<appcore::LocalModel> models_;
};

}  // namespace ui
